import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { VigilError } from '../../shared/errors.ts';
import { decodeContent, MalformedLine, parseBody } from './body.ts';
import { nestsDeeperThan } from './kinds.ts';

async function failure(promise: Promise<unknown>): Promise<[string, string]> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(VigilError);
  return [(error as VigilError).code, (error as VigilError).message];
}

describe('decodeContent', () => {
  it('passes identity bodies through and inflates gzip', async () => {
    const raw = Buffer.from('{"a":1}');
    for (const encoding of [undefined, '', 'identity', 'IDENTITY']) expect(await decodeContent(encoding, raw, 100)).toBe(raw);
    for (const encoding of ['gzip', 'x-gzip', ' Gzip ']) expect((await decodeContent(encoding, zlib.gzipSync(raw), 100)).toString()).toBe('{"a":1}');
  });

  it('stops inflating at the limit (gzip bomb) with 413, whatever the ratio', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(128 * 1024 * 1024)); // 128 MiB of zeros, ~128 KiB on the wire
    expect(bomb.length).toBeLessThan(200 * 1024);
    const before = process.memoryUsage().rss;
    expect(await failure(decodeContent('gzip', bomb, 1024 * 1024))).toEqual(['VIGIL_ERR_PAYLOAD_TOO_LARGE', 'the decompressed body exceeds the limit of 1048576 bytes']);
    expect(process.memoryUsage().rss - before).toBeLessThan(48 * 1024 * 1024);
    const exact = zlib.gzipSync(Buffer.alloc(1000, 0x20));
    expect((await decodeContent('gzip', exact, 1000)).length).toBe(1000);
    expect((await failure(decodeContent('gzip', exact, 999)))[0]).toBe('VIGIL_ERR_PAYLOAD_TOO_LARGE');
  });

  it('refuses corrupt gzip (400) and other encodings (415)', async () => {
    expect(await failure(decodeContent('gzip', Buffer.from('plain'), 100))).toEqual(['VIGIL_ERR_MALFORMED_BODY', expect.stringMatching(/^the body is not valid gzip: /)]);
    const truncated = zlib.gzipSync(Buffer.from('{"a":1}')).subarray(0, 12);
    expect((await failure(decodeContent('gzip', truncated, 100)))[0]).toBe('VIGIL_ERR_MALFORMED_BODY');
    expect(await failure(decodeContent('br', Buffer.from('x'), 100))).toEqual(['VIGIL_ERR_UNSUPPORTED_MEDIA_TYPE', 'Content-Encoding "br" is not supported; send identity or gzip']);
    expect((await failure(decodeContent('gzip, br', Buffer.from('x'), 100)))[0]).toBe('VIGIL_ERR_UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('parseBody', () => {
  it('parses JSON, and names an empty or malformed body', () => {
    expect(parseBody('application/json', Buffer.from('[1,{"a":2}]'))).toEqual({ form: 'json', value: [1, { a: 2 }] });
    expect(() => parseBody('application/json', Buffer.from('  '))).toThrow('malformed JSON body: the body is empty');
    expect(() => parseBody('application/json', Buffer.from('{"a":'))).toThrow(/^malformed JSON body: /);
  });

  it('parses NDJSON line by line: CRLF, blank lines skipped, a bad line becomes one rejected item', () => {
    const parsed = parseBody('application/x-ndjson; charset=utf-8', Buffer.from('{"a":1}\r\n\n  \n{"b":\n[2]\n"last"'));
    expect(parsed.form).toBe('ndjson');
    const items = (parsed as { items: unknown[] }).items;
    expect(items).toHaveLength(4);
    expect(items[0]).toEqual({ a: 1 });
    expect(items[1]).toBeInstanceOf(MalformedLine);
    expect((items[1] as MalformedLine).message).toMatch(/^is not valid JSON: /);
    expect(items.slice(2)).toEqual([[2], 'last']);
    expect(parseBody('Application/NDJSON', Buffer.from('1')).form).toBe('ndjson');
    expect(() => parseBody('application/x-ndjson', Buffer.from('\n \r\n'))).toThrow('the NDJSON body has no lines');
  });
});

describe('nestsDeeperThan', () => {
  it('counts the value itself as level 1, through objects and arrays, without overflowing on 100k levels', () => {
    expect(nestsDeeperThan('x', 1)).toBe(false);
    expect(nestsDeeperThan({ a: 1 }, 1)).toBe(false);
    expect(nestsDeeperThan({ a: { b: 1 } }, 1)).toBe(true);
    expect(nestsDeeperThan({ a: [{ b: [] }] }, 4)).toBe(false);
    expect(nestsDeeperThan({ a: [{ b: [] }] }, 3)).toBe(true);
    expect(nestsDeeperThan(JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`), 32)).toBe(true);
  });
});
