/** The console's only way to vigil: fetch on the public API with the pasted token (session storage, never a URL). */
const BASE = '/api/v1/monitoring';
const TOKEN_KEY = 'vigil.token';

export type Role = 'user' | 'moderator' | 'admin';
export interface Claims {
  sub: string;
  role: Role;
  exp?: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const session = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  signIn: (token: string) => sessionStorage.setItem(TOKEN_KEY, token.trim()),
  signOut: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** The token's claims as the browser can read them (the server still verifies every request). */
export function claims(token: string | null): Claims | null {
  const part = token?.split('.')[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    const value = JSON.parse(json) as Partial<Claims>;
    return typeof value.sub === 'string' && typeof value.role === 'string' ? (value as Claims) : null;
  } catch {
    return null;
  }
}

const RANK: Record<string, number> = { user: 1, moderator: 2, admin: 3 };
export const atLeast = (c: Claims | null, role: Role) => (RANK[c?.role ?? ''] ?? 0) >= RANK[role];

export type Query = Record<string, string | number | boolean | undefined | null>;

export function qs(query: Query = {}): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** Calls the API; answers the whole JSON body, or throws ApiError with vigil's error envelope. */
export async function api<T = any>(
  method: string,
  path: string,
  opts: { query?: Query; body?: unknown } = {},
): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${session.token() ?? ''}` };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(`${BASE}${path}${qs(opts.query)}`, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
  } catch (error) {
    throw new ApiError(0, 'NETWORK', `vigil did not answer (${(error as Error).message})`);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const e = body?.error ?? {};
    throw new ApiError(response.status, e.code ?? 'UNKNOWN', e.message ?? response.statusText, e.details);
  }
  return body as T;
}
