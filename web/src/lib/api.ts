/**
 * The only door to the backend: same-origin JSON over fetch.
 *
 * Session security (issue 6):
 * - The access token lives in this module's memory only — never localStorage or
 *   sessionStorage, so an XSS cannot lift a long-lived credential from storage
 *   and a closed tab forgets it. After a reload the app relies on the backend's
 *   httpOnly, SameSite=Strict session cookie, which script cannot read.
 * - Cookie-authenticated writes need CSRF protection: the backend sets a
 *   non-httpOnly `cs_csrf` cookie holding the token bound to this session and
 *   requires it in `X-CSRF-Token` (a cross-site page can neither read the
 *   cookie nor set the header; the backend also checks Origin). We send it on
 *   every non-GET request.
 */

export const CSRF_COOKIE = 'cs_csrf';
export const CSRF_HEADER = 'X-CSRF-Token';

let accessToken: string | null = null;
let onUnauthenticated: (() => void) | null = null;

export function setAccessToken(token: string | null): void {
  accessToken = token;
}

export function hasAccessToken(): boolean {
  return accessToken !== null;
}

/** Called when the backend answers 401 to an authenticated call (session over). */
export function setUnauthenticatedHandler(handler: (() => void) | null): void {
  onUnauthenticated = handler;
}

export function readCookie(name: string): string | null {
  for (const part of document.cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return part.slice(eq + 1).trim();
      }
    }
  }
  return null;
}

/** The CSRF cookie is set with the session cookie, so its presence means "maybe a session". */
export function mayHaveSessionCookie(): boolean {
  return readCookie(CSRF_COOKIE) !== null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly reason?: string,
    /** Seconds, from Retry-After (429/503). */
    readonly retryAfter?: number,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

interface RequestOptions {
  /** Login/register must not trigger the "session over" handler on 401. */
  anonymous?: boolean;
  signal?: AbortSignal;
}

export async function request<T>(method: Method, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (accessToken && !options.anonymous) headers.Authorization = `Bearer ${accessToken}`;
  if (method !== 'GET') {
    const csrf = readCookie(CSRF_COOKIE);
    if (csrf) headers[CSRF_HEADER] = csrf;
  }
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      redirect: 'error',
      signal: options.signal,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError(0, 'network', 'Cannot reach Countersign. Check your connection and try again.');
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let json: unknown = undefined;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  if (response.ok) return json as T;

  const error = (json as { error?: { code?: unknown; message?: unknown; reason?: unknown; details?: unknown } } | undefined)?.error;
  const retryHeader = response.headers.get('Retry-After');
  const retryAfter = retryHeader && /^[0-9]+$/.test(retryHeader) ? Number(retryHeader) : undefined;
  const apiError = new ApiError(
    response.status,
    typeof error?.code === 'string' ? error.code : `http_${response.status}`,
    typeof error?.message === 'string' ? error.message : `The server answered ${response.status}.`,
    typeof error?.reason === 'string' ? error.reason : undefined,
    retryAfter,
    error?.details,
  );
  if (response.status === 401 && !options.anonymous) onUnauthenticated?.();
  throw apiError;
}

export const api = {
  get: <T>(path: string, options?: RequestOptions) => request<T>('GET', path, undefined, options),
  post: <T>(path: string, body?: unknown, options?: RequestOptions) => request<T>('POST', path, body, options),
  put: <T>(path: string, body?: unknown, options?: RequestOptions) => request<T>('PUT', path, body, options),
  del: <T>(path: string, body?: unknown, options?: RequestOptions) => request<T>('DELETE', path, body, options),
};

/** Query-string builder that skips empty values. */
export function withQuery(path: string, params: Record<string, string | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
  const qs = search.toString();
  return qs ? `${path}?${qs}` : path;
}
