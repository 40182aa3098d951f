// The typed API client: openapi-fetch over the types generated from the server's OpenAPI
// document (src/api/schema.d.ts, `npm run gen:api`), with the session's access token and
// organization, and one refresh on a 401 shared by every request that gets one meanwhile.
import createClient from "openapi-fetch";
import type { paths } from "./schema";
import { clearSession, getAccessToken, getOrgId, setSession, type TokenResponse } from "./session";

const REFRESH_PATH = "/api/user/auth/refresh";

/** Routes whose 401 means "wrong credentials", not "refresh and retry". */
function isAuthRoute(url: string): boolean {
  const path = new URL(url, "http://x").pathname;
  return path.startsWith("/api/user/auth/") || path.startsWith("/api/admin/auth/login");
}

/** What the client sends requests with (fetch, or a fake in tests). */
export type Send = (req: Request) => Promise<Response>;

let refreshing: Promise<boolean> | null = null;

/**
 * Refreshes the session once: concurrent callers share the same request (single flight), so
 * parallel 401s never present the same refresh token twice (which the server treats as
 * reuse and answers by revoking the whole session).
 */
export function refreshSession(fetchImpl: Send = (req) => globalThis.fetch(req)): Promise<boolean> {
  if (!refreshing) {
    refreshing = (async () => {
      try {
        const res = await fetchImpl(
          new Request(new URL(REFRESH_PATH, baseUrl()), { method: "POST", credentials: "same-origin" }),
        );
        if (!res.ok) return false;
        const body = (await res.json()) as TokenResponse;
        setSession(body);
        return true;
      } catch {
        return false;
      }
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

function baseUrl(): string {
  return typeof window !== "undefined" && window.location?.origin && window.location.origin !== "null"
    ? window.location.origin
    : "http://localhost";
}

function authorize(req: Request, token: string | null): Request {
  const org = getOrgId();
  if (token) req.headers.set("Authorization", `Bearer ${token}`);
  if (org && new URL(req.url).pathname.startsWith("/api/user/")) req.headers.set("X-Org-Id", org);
  return req;
}

/** Called when a refresh fails: the session is over (the app shows the login page). */
let onSessionExpired: () => void = () => clearSession();
export function setSessionExpiredHandler(handler: () => void): void {
  onSessionExpired = handler;
}

/**
 * fetch with the access token; on a 401, one (shared) refresh and one retry. A request that
 * was sent with a token that has since been replaced retries with the new one at once.
 */
export function makeAuthFetch(fetchImpl: Send = (req) => globalThis.fetch(req)) {
  return async function authFetch(input: Request): Promise<Response> {
    const retry = input.clone();
    const sent = getAccessToken();
    const res = await fetchImpl(authorize(input, sent));
    if (res.status !== 401 || isAuthRoute(input.url)) return res;
    const current = getAccessToken();
    const renewed = current !== null && current !== sent ? true : await refreshSession(fetchImpl);
    if (!renewed) {
      onSessionExpired();
      return res;
    }
    return fetchImpl(authorize(retry, getAccessToken()));
  };
}

export const api = createClient<paths>({
  baseUrl: baseUrl(),
  fetch: makeAuthFetch(),
  credentials: "same-origin",
});

/** The server's error body: `{"error": {"code", "message"}}`. */
export interface ApiErrorBody {
  error?: { code?: string; message?: string };
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** The data of an openapi-fetch answer, or an ApiError with the server's message. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.response.ok && result.data !== undefined) return result.data;
  if (result.response.ok) return undefined as T; // 204: no body
  const body = result.error as ApiErrorBody | undefined;
  const message = body?.error?.message ?? `The server answered ${result.response.status}.`;
  throw new ApiError(message, result.response.status, body?.error?.code);
}

export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof TypeError) return "The server cannot be reached. Check your connection and try again.";
  return e instanceof Error ? e.message : String(e);
}
