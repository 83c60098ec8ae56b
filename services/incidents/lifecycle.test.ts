import { describe, expect, it } from 'vitest';
import { STATUSES, allowedNext, canMove, isUnresolved } from './lifecycle.ts';

describe('incident lifecycle', () => {
  it('walks the whole path and reopens', () => {
    const path = ['open', 'investigating', 'identified', 'monitoring', 'resolved', 'closed', 'open'] as const;
    for (let i = 1; i < path.length; i++)
      expect(canMove(path[i - 1], path[i]), `${path[i - 1]} → ${path[i]}`).toBe(true);
  });

  it('refuses closing an unresolved incident and returning to open without a reopen', () => {
    for (const from of ['open', 'investigating', 'identified', 'monitoring'] as const)
      expect(canMove(from, 'closed')).toBe(false);
    for (const from of ['investigating', 'identified', 'monitoring'] as const)
      expect(canMove(from, 'open')).toBe(false);
    expect(canMove('closed', 'resolved')).toBe(false);
    expect(canMove('resolved', 'monitoring')).toBe(false);
  });

  it('treats the current status as a no-op and lists the allowed moves', () => {
    for (const s of STATUSES) expect(canMove(s, s)).toBe(true);
    expect(allowedNext('closed')).toEqual(['open', 'investigating']);
    expect(STATUSES.filter(isUnresolved)).toEqual(['open', 'investigating', 'identified', 'monitoring']);
  });
});
