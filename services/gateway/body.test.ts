import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { VigilError } from '../../shared/errors.ts';
import { parseBody, readBody, RejectedItem, type BodyLimits, type BodyOptions, type ParsedBody } from './body.ts';

const LIMITS: BodyLimits = { maxBytes: 5 * 1024 * 1024, maxItems: 5000, maxItemValues: 1000 };
const SHAPE = { batchKey: 'events', noun: 'event' };
const JSON_BODY = {
  contentType: 'application/json',
  encoding: undefined,
  limits: LIMITS,
  shape: SHAPE,
} satisfies BodyOptions;
const NDJSON_BODY = { ...JSON_BODY, contentType: 'application/x-ndjson' };

async function failure(promise: Promise<unknown>): Promise<[string, string]> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(VigilError);
  return [(error as VigilError).code, (error as VigilError).message];
}

function thrown(run: () => unknown): [string, string, unknown] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(VigilError);
    return [(error as VigilError).code, (error as VigilError).message, (error as VigilError).details];
  }
  throw new Error('did not throw');
}

/** A body served in chunks of `size` bytes, counting how many bytes were pulled from it. */
function chunked(bytes: Buffer, size: number): { stream: Readable; pulled: () => number } {
  let offset = 0;
  const stream = new Readable({
    read() {
      if (offset >= bytes.length) return void this.push(null);
      this.push(bytes.subarray(offset, offset + size));
      offset += size;
    },
  });
  return { stream, pulled: () => Math.min(offset, bytes.length) };
}

/** Leading whitespace past maxItemValues characters: the body is scanned, not parsed whole as a short one is. */
const PAD = ' '.repeat(LIMITS.maxItemValues + 1);
const json = (text: string, limits = LIMITS): ParsedBody =>
  parseBody('application/json', Buffer.from(PAD + text), limits, SHAPE);
const items = (text: string, limits = LIMITS): unknown[] => {
  const body = json(text, limits);
  expect(body.form).toBe('items');
  return (body as { items: unknown[] }).items;
};

describe('readBody: bytes and Content-Encoding', { timeout: 30_000 }, () => {
  it('passes identity bodies through and inflates gzip', async () => {
    for (const encoding of [undefined, '', 'identity', 'IDENTITY']) {
      expect(await readBody(Readable.from([Buffer.from('{"a":1}')]), { ...JSON_BODY, encoding })).toEqual({
        form: 'json',
        value: { a: 1 },
      });
    }
    for (const encoding of ['gzip', 'x-gzip', ' Gzip ']) {
      expect(await readBody(Readable.from([zlib.gzipSync(`${PAD}[{"a":1},2]`)]), { ...JSON_BODY, encoding })).toEqual({
        form: 'items',
        items: [{ a: 1 }, 2],
      });
    }
  });

  it('stops inflating at the limit (gzip bomb) with 413, whatever the ratio', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(32 * 1024 * 1024, 0x20)); // 32 MiB of spaces, ~32 KiB on the wire
    expect(bomb.length).toBeLessThan(50 * 1024);
    const before = process.memoryUsage().rss;
    let inflated = 0;
    const options = {
      ...JSON_BODY,
      encoding: 'gzip',
      limits: { ...LIMITS, maxBytes: 1024 * 1024 },
      onDecodedBytes: (n: number) => (inflated = n),
    };
    expect(await failure(readBody(Readable.from([bomb]), options))).toEqual([
      'VIGIL_ERR_PAYLOAD_TOO_LARGE',
      'the decompressed body exceeds the limit of 1048576 bytes',
    ]);
    expect(inflated).toBeLessThanOrEqual(1024 * 1024);
    expect(process.memoryUsage().rss - before).toBeLessThan(48 * 1024 * 1024);
    const exact = zlib.gzipSync(Buffer.from(`${PAD}[${'1,'.repeat(998)}1]`)); // 3000 bytes
    const exactly = (maxBytes: number) =>
      readBody(Readable.from([exact]), { ...JSON_BODY, encoding: 'gzip', limits: { ...LIMITS, maxBytes } });
    expect(((await exactly(3000)) as { items: unknown[] }).items).toHaveLength(999);
    expect((await failure(exactly(2999)))[0]).toBe('VIGIL_ERR_PAYLOAD_TOO_LARGE');
    expect(
      await failure(
        readBody(Readable.from([Buffer.alloc(1001, 0x20)]), { ...JSON_BODY, limits: { ...LIMITS, maxBytes: 1000 } }),
      ),
    ).toEqual(['VIGIL_ERR_PAYLOAD_TOO_LARGE', 'the body exceeds the limit of 1000 bytes']);
  }, 30_000);

  it('refuses corrupt gzip (400) and other encodings (415)', async () => {
    const gzip = (raw: Buffer, encoding = 'gzip') =>
      failure(readBody(Readable.from([raw]), { ...JSON_BODY, encoding }));
    expect(await gzip(Buffer.from('plain'))).toEqual([
      'VIGIL_ERR_MALFORMED_BODY',
      expect.stringMatching(/^the body is not valid gzip: /),
    ]);
    expect((await gzip(zlib.gzipSync('{"a":1}').subarray(0, 12)))[0]).toBe('VIGIL_ERR_MALFORMED_BODY');
    expect(await gzip(Buffer.from('x'), 'br')).toEqual([
      'VIGIL_ERR_UNSUPPORTED_MEDIA_TYPE',
      'Content-Encoding "br" is not supported; send identity or gzip',
    ]);
    expect((await gzip(Buffer.from('x'), 'gzip, br'))[0]).toBe('VIGIL_ERR_UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('readBody: bombs stop at the first item past the limit', { timeout: 30_000 }, () => {
  const TOO_MANY = [
    'VIGIL_ERR_PAYLOAD_TOO_LARGE',
    'the batch has more than 5000 events; at most 5000 are accepted per request: split it',
  ];
  const FIVE_MB = 5 * 1024 * 1024;

  it('gzip NDJSON of 2.5M lines (5 KB on the wire): 413 after inflating a few KB, not 5 MB', async () => {
    const bomb = zlib.gzipSync('1\n'.repeat(FIVE_MB / 2));
    expect(bomb.length).toBeLessThan(10 * 1024);
    let inflated = 0;
    const started = performance.now();
    expect(
      await failure(
        readBody(Readable.from([bomb]), { ...NDJSON_BODY, encoding: 'gzip', onDecodedBytes: (n) => (inflated = n) }),
      ),
    ).toEqual(TOO_MANY);
    expect(inflated).toBeLessThanOrEqual(64 * 1024); // one inflation step of 5 MB
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it.each([
    ['[1,1,…]', `[${'1,'.repeat(FIVE_MB / 2 - 1)}1]`, JSON_BODY],
    ['[{},{},…]', `[${'{},'.repeat(FIVE_MB / 3 - 1)}{}]`, JSON_BODY],
    ['{"events":[{},…]}', `{"events":[${'{},'.repeat(FIVE_MB / 3 - 10)}{}]}`, JSON_BODY],
    ['NDJSON {} lines', '{}\n'.repeat(FIVE_MB / 3), NDJSON_BODY],
  ])('%s: 413 after reading a few chunks of 5 MB', async (_name, text, options) => {
    const body = chunked(Buffer.from(text), 16 * 1024);
    let parsed = 0;
    expect(await failure(readBody(body.stream, { ...options, onDecodedBytes: (n) => (parsed = n) }))).toEqual(TOO_MANY);
    expect(parsed).toBeLessThan(64 * 1024);
  });

  it('accepts exactly maxItems items', () => {
    expect(items(`[${'1,'.repeat(4999)}1]`)).toHaveLength(5000);
    expect(thrown(() => json(`[${'1,'.repeat(5000)}1]`)).slice(0, 2)).toEqual(TOO_MANY);
  });
});

describe('parseBody: per-item bound', { timeout: 30_000 }, () => {
  const tooMany =
    'has more than 1000 JSON values (objects, arrays and commas count); no valid event has that many, so it was not ' +
    'parsed';

  it('rejects an item of an array with more values than the bound, unparsed; the others count', () => {
    const dense = `{"payload":[${'{},'.repeat(1000)}{}]}`;
    expect(items(`[{"a":1},${dense},"x"]`)).toEqual([{ a: 1 }, new RejectedItem('(item)', tooMany), 'x']);
    expect(items(`{"events":[${dense},{"a":"[,{"}]}`)).toEqual([new RejectedItem('(item)', tooMany), { a: '[,{' }]);
    const atTheBound = `[${'1,'.repeat(998)}1]`; // 1 + 998 tokens
    expect(items(`[${atTheBound}]`)).toEqual([JSON.parse(atTheBound)]);
  });

  it('rejects a single-item body with more values than the bound (deep nesting included), unparsed', () => {
    expect(json(`{"payload":[${'{},'.repeat(1000)}{}]}`)).toEqual({
      form: 'json',
      value: new RejectedItem('(body)', tooMany),
    });
    expect(json(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)).toEqual({
      form: 'items',
      items: [new RejectedItem('(item)', tooMany)],
    });
    expect(json(`{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`)).toEqual({
      form: 'json',
      value: new RejectedItem('(body)', tooMany),
    });
  });

  it('rejects an NDJSON line with more values than the bound, counted as it arrives over chunks', async () => {
    const dense = `{"payload":[${'{},'.repeat(1000)}{}]}`;
    const text = `{"a":1}\n${dense}\n{"s":"${',{['.repeat(2000)}"}\n`;
    const body = chunked(Buffer.from(text), 7);
    const parsed = (await readBody(body.stream, NDJSON_BODY)) as { items: unknown[] };
    expect(parsed.items).toEqual([{ a: 1 }, new RejectedItem('(line)', tooMany), { s: ',{['.repeat(2000) }]);
  });
});

describe('parseBody: JSON', { timeout: 30_000 }, () => {
  it('splits arrays and batch objects into the items JSON.parse gives, wherever the chunks are cut', async () => {
    const text = `${PAD}[ {"a":"x,]\\"}{","b":[1,{"c":null}]} , "s\\\\" ,3.5e2,true,null,[[]],{} ,"日本"] `;
    const wrapped = `${PAD}{ "events" : ${text} }`;
    for (const [body, expected] of [
      [text, JSON.parse(text)],
      [wrapped, JSON.parse(wrapped).events],
    ]) {
      expect(items(body)).toEqual(expected);
      const bytes = Buffer.from(body);
      for (let cut = 1; cut < bytes.length; cut++) {
        const parsed = await readBody(Readable.from([bytes.subarray(0, cut), bytes.subarray(cut)]), JSON_BODY);
        expect(parsed, `cut at ${cut}`).toEqual({ form: 'items', items: expected });
      }
    }
  });

  it('parses a body too short to hold more tokens than one item whole, as sent (ingest splits it)', () => {
    expect(parseBody('application/json', Buffer.from('[{"a":1},2]'), LIMITS, SHAPE)).toEqual({
      form: 'json',
      value: [{ a: 1 }, 2],
    });
    expect(parseBody('application/json', Buffer.from('{"events":[1]}'), LIMITS, SHAPE)).toEqual({
      form: 'json',
      value: { events: [1] },
    });
    expect(thrown(() => parseBody('application/json', Buffer.from(' '), LIMITS, SHAPE)).slice(0, 2)).toEqual([
      'VIGIL_ERR_MALFORMED_BODY',
      'malformed JSON body: the body is empty',
    ]);
    expect(thrown(() => parseBody('application/json', Buffer.from('[1,'), LIMITS, SHAPE))[1]).toMatch(
      /^malformed JSON body: /,
    );
  });

  it('keeps one object or value whole', () => {
    expect(json(' {"event_type":"log","tags":{"events":[1]},"payload":{"a":[1,2]}} ')).toEqual({
      form: 'json',
      value: { event_type: 'log', tags: { events: [1] }, payload: { a: [1, 2] } },
    });
    expect(json('"events"')).toEqual({ form: 'json', value: 'events' });
    expect(json('null')).toEqual({ form: 'json', value: null });
    expect(items('{"\\u0065vents":[1]}')).toEqual([1]);
  });

  it('names an empty or malformed body', () => {
    const malformedBody = (text: string) => thrown(() => json(text)).slice(0, 2);
    expect(malformedBody('  ')).toEqual(['VIGIL_ERR_MALFORMED_BODY', 'malformed JSON body: the body is empty']);
    for (const text of [
      '{"a":',
      '[1,',
      '[1,]',
      '[,1]',
      '[1 2]',
      '[1,2] x',
      '[1,2}',
      '[{"a":1]}',
      '{"a":1}}',
      '"open',
      '[01]',
      '{"events":[1] "x":2}',
    ]) {
      expect(malformedBody(text), text).toEqual([
        'VIGIL_ERR_MALFORMED_BODY',
        expect.stringMatching(/^malformed JSON body: /),
      ]);
    }
    expect(malformedBody('[1,2] x')[1]).toBe('malformed JSON body: unexpected "x" after the end of the JSON value');
    expect(malformedBody('[1,,2]')[1]).toBe('malformed JSON body: an empty item in the array (item 1)');
  });

  it('refuses malformed batch objects, naming the field', () => {
    const refused = (text: string) => thrown(() => json(text));
    expect(refused('{"events":"many"}')).toEqual([
      'VIGIL_ERR_VALIDATION',
      'events: must be an array of events',
      [{ field: 'events', message: 'must be an array of events' }],
    ]);
    expect(refused('{"events":[1],"extra":1}')[2]).toEqual([
      { field: 'extra', message: 'is not allowed next to "events" (a batch object has only "events")' },
    ]);
    expect(refused('{"extra":[1,2],"events":[1]}')[2]).toEqual([
      { field: 'extra', message: 'is not allowed next to "events" (a batch object has only "events")' },
    ]);
    expect(refused('{"events":[1],"events":[2]}')[2]).toEqual([
      { field: 'events', message: 'must appear only once in a batch object' },
    ]);
    expect(items('{"events":[]}')).toEqual([]);
  });
});

describe('parseBody: NDJSON', { timeout: 30_000 }, () => {
  it('parses line by line: CRLF, blank lines skipped, a bad line becomes one rejected item', () => {
    const parsed = parseBody(
      'application/x-ndjson; charset=utf-8',
      Buffer.from('{"a":1}\r\n\n  \n{"b":\n[2]\n"last"'),
      LIMITS,
      SHAPE,
    );
    expect(parsed.form).toBe('items');
    const lines = (parsed as { items: unknown[] }).items;
    expect(lines).toHaveLength(4);
    expect(lines[0]).toEqual({ a: 1 });
    expect(lines[1]).toBeInstanceOf(RejectedItem);
    expect((lines[1] as RejectedItem).field).toBe('(line)');
    expect((lines[1] as RejectedItem).message).toMatch(/^is not valid JSON: /);
    expect(lines.slice(2)).toEqual([[2], 'last']);
    expect(parseBody('Application/NDJSON', Buffer.from('1'), LIMITS, SHAPE).form).toBe('items');
    expect(thrown(() => parseBody('application/x-ndjson', Buffer.from('\n \r\n'), LIMITS, SHAPE)).slice(0, 2)).toEqual([
      'VIGIL_ERR_MALFORMED_BODY',
      'the NDJSON body has no lines',
    ]);
  });
});
