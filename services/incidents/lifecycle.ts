/**
 * The incident status lifecycle:
 *
 *   open ──▶ investigating ──▶ identified ──▶ monitoring ──▶ resolved ──▶ closed
 *                 ◀───────────────┴──────────────┘               │           │
 *   ◀────────────── reopen (open or investigating) ──────────────┴───────────┘
 *
 * Forward moves may skip states (a false alarm goes open → resolved); the three working states move freely among
 * themselves (monitoring → investigating when a fix did not hold), but nothing returns to `open` except a reopen;
 * `closed` only follows `resolved`. Setting the current status again is a no-op, not an error.
 */
export const STATUSES = ['open', 'investigating', 'identified', 'monitoring', 'resolved', 'closed'] as const;
export type Status = (typeof STATUSES)[number];

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Statuses that count as unresolved (open_incidents in /stats; an alert attaches to these). */
export const UNRESOLVED: readonly Status[] = ['open', 'investigating', 'identified', 'monitoring'];

const NEXT: Record<Status, readonly Status[]> = {
  open: ['investigating', 'identified', 'monitoring', 'resolved'],
  investigating: ['identified', 'monitoring', 'resolved'],
  identified: ['investigating', 'monitoring', 'resolved'],
  monitoring: ['investigating', 'identified', 'resolved'],
  resolved: ['closed', 'open', 'investigating'],
  closed: ['open', 'investigating'],
};

export function allowedNext(from: Status): readonly Status[] {
  return NEXT[from];
}

export function canMove(from: Status, to: Status): boolean {
  return from === to || NEXT[from].includes(to);
}

export function isUnresolved(status: Status): boolean {
  return UNRESOLVED.includes(status);
}
