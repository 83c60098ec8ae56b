import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { durationSchema, isoTimeSchema, uuidSchema } from '../schemas/primitives.ts';
import { installErrorHandling } from './error-handler.ts';
import { AJV_OPTIONS, commaListSchema, strictQuery } from './validation.ts';

describe("route schemas answer in vigil's envelope, naming the parameter and the rule", () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    app = Fastify({ ajv: AJV_OPTIONS });
    installErrorHandling(app);
    const querystring = strictQuery(
      {
        limit: { type: 'integer', minimum: 1, maximum: 10, default: 5 },
        level: { type: 'string', enum: ['info', 'error'] },
        since: isoTimeSchema,
        step: durationSchema,
        status: commaListSchema(['open', 'closed']),
        name: { type: 'string', minLength: 1, maxLength: 8 },
      },
      { families: { 'tag.': { type: 'string' } }, needs: { step: ['name'] } },
    );
    app.get(
      '/things/:id',
      { schema: { querystring, params: { type: 'object', properties: { id: uuidSchema } } } },
      async (request) => ({ query: request.query }),
    );
    await app.ready();
  });
  afterAll(() => app.close());

  const ID = '0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6d';
  const get = async (query: string, id = ID) => {
    const res = await app.inject({ method: 'GET', url: `/things/${id}?${query}` });
    return [res.statusCode, res.json()];
  };
  const refused = (field: string, message: string) => [
    400,
    {
      success: false,
      error: { code: 'VIGIL_ERR_VALIDATION', message: `${field}: ${message}`, details: [{ field, message }] },
    },
  ];

  it('accepts valid parameters, coercing integers and writing no defaults', async () => {
    expect(
      await get('limit=3&level=info&since=2024-01-01T00:00:00Z&step=1h30m&name=x&status=open,closed&tag.a=b'),
    ).toEqual([
      200,
      {
        query: {
          limit: 3,
          level: 'info',
          since: '2024-01-01T00:00:00Z',
          step: '1h30m',
          name: 'x',
          status: 'open,closed',
          'tag.a': 'b',
        },
      },
    ]);
    expect(await get('')).toEqual([200, { query: {} }]);
  });

  it('words each kind of failure', async () => {
    const known = 'limit, level, since, step, status, name, tag.<key>';
    expect(await get('sorce=x')).toEqual(refused('sorce', `is not a known parameter (known: ${known})`));
    expect(await get('limit=0')).toEqual(refused('limit', 'must be an integer from 1 to 10, got 0'));
    expect(await get('limit=ten')).toEqual(refused('limit', 'must be an integer from 1 to 10, got "ten"'));
    expect(await get('limit=1&limit=2')).toEqual(refused('limit', 'must be given once'));
    expect(await get('level=warn')).toEqual(refused('level', 'must be one of info, error, got "warn"'));
    expect(await get('since=yesterday')).toEqual(
      refused('since', 'must be an ISO 8601 date-time with a zone, e.g. 2024-01-01T00:00:00Z, got "yesterday"'),
    );
    expect(await get('step=5x&name=a')).toEqual(
      refused('step', 'must be a duration like 30s, 5m, 1h30m or 1d, or a number of seconds, got "5x"'),
    );
    expect(await get('step=5m')).toEqual(refused('name', 'is required with step'));
    expect(await get('status=open,gone')).toEqual(
      refused('status', 'must be one or a comma list of open, closed, got "open,gone"'),
    );
    expect(await get('name=')).toEqual(refused('name', 'must be a non-empty string of at most 8 characters, got ""'));
    expect(await get('', 'nope')).toEqual(refused('id', 'must be a UUID, got "nope"'));
  });
});
