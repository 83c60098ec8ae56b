/**
 * Who may be named where. vigil acts under a few identities of its own (system actors): the alerter opens incidents,
 * writes their timeline entries and publishes `alert` events as `vigil-alerter`; the incident analysis writes its
 * timeline entries as `vigil`. Records of direct Kafka producers are attributed to `kafka:<producer>`. None of these
 * can be claimed: a token whose `sub` is one of them (or starts with `vigil-` or `kafka:`) is refused, and an event
 * whose `source` is a system source is accepted only from the system itself (validateEvent, shared/schemas/event.ts).
 *
 * A subject is 1–255 printable ASCII characters from a conservative set (letters, digits and `._@|+=:/-`, starting
 * with a letter or digit): what identity providers issue (UUIDs, `auth0|…`, e-mail addresses, URLs), without spaces,
 * control characters or look-alike Unicode that would make two subjects read the same in a timeline.
 */

/** The alerter: incidents it opens, their alert timeline entries, and its `alert` events (source and created_by). */
export const ALERTER_ACTOR = 'vigil-alerter';
/** The incident analysis' timeline entries. */
export const ANALYST_ACTOR = 'vigil';
export const SYSTEM_ACTORS: readonly string[] = [ALERTER_ACTOR, ANALYST_ACTOR];
/** Event sources only the system writes. */
export const SYSTEM_SOURCES: readonly string[] = [ALERTER_ACTOR];
/** created_by of records that direct Kafka producers wrote (services/writer/decode.ts). */
export const DIRECT_PRODUCER_PREFIX = 'kafka:';
const RESERVED_PREFIXES = ['vigil-', DIRECT_PRODUCER_PREFIX];

export const SUBJECT_MAX_LENGTH = 255;
const SUBJECT = /^[A-Za-z0-9][A-Za-z0-9._@|+=:/-]*$/;

export function isSystemActor(name: string | null | undefined): boolean {
  return typeof name === 'string' && SYSTEM_ACTORS.includes(name);
}

const SYSTEM_SOURCE_LENGTHS = new Set(SYSTEM_SOURCES.map((s) => s.length));

/** True for a system source, in any letter case (`Vigil-Alerter` would read as the alerter in a timeline). */
export function isSystemSource(source: string): boolean {
  // Ingest asks this of every event: compare lengths before lower-casing anything.
  return SYSTEM_SOURCE_LENGTHS.has(source.length) && SYSTEM_SOURCES.includes(source.toLowerCase());
}

/** What a subject must look like, and what it must not be, as error messages say it. */
export const SUBJECT_RULE =
  `1–${SUBJECT_MAX_LENGTH} characters: letters, digits and ._@|+=:/- (starting with a ` + `letter or digit)`;
export const RESERVED_RULE = 'reserved for vigil itself (its system actors, vigil-*, kafka:*)';

export type SubjectProblem = 'bad_subject' | 'reserved_subject';

/** Why `sub` cannot name a caller, or null when it can. */
export function subjectProblem(sub: unknown): SubjectProblem | null {
  if (typeof sub !== 'string' || sub.length > SUBJECT_MAX_LENGTH || !SUBJECT.test(sub)) return 'bad_subject';
  const lower = sub.toLowerCase();
  if (SYSTEM_ACTORS.includes(lower) || RESERVED_PREFIXES.some((p) => lower.startsWith(p))) return 'reserved_subject';
  return null;
}
