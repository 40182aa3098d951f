// The session: the access token lives in memory only (never in storage); the refresh token is
// the server's HttpOnly cookie (Path=/api), which this code never sees.
import type { components } from "./schema";

export type UserProfile = components["schemas"]["UserProfile"];
export type TokenResponse = components["schemas"]["TokenResponse"];

type Listener = () => void;

let accessToken: string | null = null;
let user: UserProfile | null = null;
let orgId: string | null = null;
const listeners = new Set<Listener>();

export function getAccessToken(): string | null {
  return accessToken;
}

export function getUser(): UserProfile | null {
  return user;
}

export function getOrgId(): string | null {
  return orgId;
}

/** The organization the `/api/user/...` calls work on (`X-Org-Id`); null: the personal one. */
export function setOrgId(id: string | null): void {
  orgId = id;
  emit();
}

export function setSession(tokens: Pick<TokenResponse, "access_token"> & { user?: UserProfile }): void {
  accessToken = tokens.access_token;
  if (tokens.user) user = tokens.user;
  emit();
}

export function clearSession(): void {
  accessToken = null;
  user = null;
  orgId = null;
  emit();
}

export function subscribe(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function emit(): void {
  for (const l of listeners) l();
}
