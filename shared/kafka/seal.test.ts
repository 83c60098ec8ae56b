import { describe, expect, it } from 'vitest';
import { RecordSeal, type SealContext } from './seal.ts';

const SECRET = 'a unit test seal secret of more than 32 bytes';
const context: SealContext = {
  topic: 'monitoring.events.v1',
  schema: 'vigil.monitoring.EventBundle@0f',
  producer: 'gateway',
};
const value = Buffer.from('the bytes of a bundle');

describe('RecordSeal', () => {
  it('verifies its own seal on the same value and context', () => {
    const seal = new RecordSeal(SECRET);
    const header = seal.sign(context, value);
    expect(header).toMatch(/^[A-Za-z0-9_-]{38}$/);
    expect(seal.verify(context, value, header)).toBe(true);
    expect(new RecordSeal(SECRET).verify(context, Buffer.from(value), header)).toBe(true);
  });

  it('is made from the configured secret, and is none without one', () => {
    expect(RecordSeal.of(null)).toBeNull();
    const header = RecordSeal.of(SECRET)!.sign(context, value);
    expect(new RecordSeal(SECRET).verify(context, value, header)).toBe(true);
  });

  it('refuses a seal on other bytes, another topic, schema or producer, or under another secret', () => {
    const seal = new RecordSeal(SECRET);
    const header = seal.sign(context, value);
    const flipped = Buffer.from(value);
    flipped[3] ^= 1;
    expect(seal.verify(context, flipped, header)).toBe(false);
    expect(seal.verify(context, Buffer.concat([value, Buffer.alloc(1)]), header)).toBe(false);
    expect(seal.verify({ ...context, topic: 'monitoring.metrics.v1' }, value, header)).toBe(false);
    expect(seal.verify({ ...context, schema: 'vigil.monitoring.Event@0f' }, value, header)).toBe(false);
    expect(seal.verify({ ...context, producer: 'alerter' }, value, header)).toBe(false);
    expect(new RecordSeal(`${SECRET}!`).verify(context, value, header)).toBe(false);
  });

  it('refuses missing, malformed and altered headers', () => {
    const seal = new RecordSeal(SECRET);
    const header = seal.sign(context, value);
    const altered = (header[0] === 'A' ? 'B' : 'A') + header.slice(1);
    for (const bad of [undefined, '', 'x', header.slice(1), `${header}A`, '!'.repeat(38), altered]) {
      expect(seal.verify(context, value, bad)).toBe(false);
    }
  });

  it('uses a nonce once: seals of one value differ, per process and per seal', () => {
    const a = new RecordSeal(SECRET);
    const b = new RecordSeal(SECRET);
    const seals = new Set([a.sign(context, value), a.sign(context, value), b.sign(context, value)]);
    expect(seals.size).toBe(3);
    for (const header of seals) expect(a.verify(context, value, header)).toBe(true);
  });
});
