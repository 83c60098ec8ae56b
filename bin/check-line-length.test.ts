import { describe, expect, it } from 'vitest';
import { longLines, MAX_LINE_CHARACTERS } from './check-line-length.ts';

describe('longLines', () => {
  it('reports the lines past the limit with their 1-based number and length', () => {
    const text = ['short', 'x'.repeat(MAX_LINE_CHARACTERS), 'y'.repeat(MAX_LINE_CHARACTERS + 1), ''].join('\n');
    expect(longLines(text)).toEqual([{ line: 3, characters: MAX_LINE_CHARACTERS + 1 }]);
  });

  it('counts characters, not UTF-8 bytes, and ignores a CRLF ending', () => {
    const arrows = '→'.repeat(MAX_LINE_CHARACTERS);
    expect(longLines(`${arrows}\r\n${arrows}µ`)).toEqual([{ line: 2, characters: MAX_LINE_CHARACTERS + 1 }]);
  });

  it('honours another limit', () => {
    expect(longLines('abcd\nabc', 3)).toEqual([{ line: 1, characters: 4 }]);
  });
});
