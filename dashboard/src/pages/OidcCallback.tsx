// Where the identity provider sends the browser back (OIDC_REDIRECT_URI = <dashboard>/auth/oidc/callback)
// with `code` and `state`: the page trades them for the session at
// `GET /api/user/auth/oidc/callback`, as the password login does, then opens the overview.
import { useEffect, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { api, unwrap } from "../api/client";
import { setSession, type TokenResponse } from "../api/session";
import { PublicLayout } from "../components/Layout";
import { FormError, Loading } from "../components/States";

export const OIDC_START = "/api/user/auth/oidc/start";
export const OIDC_CALLBACK_PATH = "/auth/oidc/callback";

// The `state` works once: one request per code and state, even if the page mounts twice
// (React's StrictMode in development).
const exchanges = new Map<string, Promise<TokenResponse>>();

function exchange(code: string, state: string): Promise<TokenResponse> {
  const key = `${code}\n${state}`;
  let p = exchanges.get(key);
  if (!p) {
    p = api.GET("/api/user/auth/oidc/callback", { params: { query: { code, state } } }).then(unwrap);
    exchanges.set(key, p);
  }
  return p;
}

export function OidcCallbackPage() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const code = params.get("code");
  const state = params.get("state");
  // The provider's own refusal (e.g. the user said no): `error` and `error_description`.
  const refused = params.get("error");
  const missing = !refused && (!code || !state);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    if (refused || !code || !state) return;
    let live = true;
    exchange(code, state).then(
      (tokens) => {
        if (!live) return;
        setSession(tokens);
        navigate("/", { replace: true });
      },
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [code, state, refused, navigate]);

  const failed = Boolean(refused) || missing || error !== null;
  return (
    <PublicLayout>
      <h1>{failed ? "Sign-in failed" : "Signing in"}</h1>
      {!failed && <Loading label="Signing you in with your identity provider" />}
      {refused && (
        <p className="form-error" role="alert">
          The identity provider did not sign you in: {params.get("error_description") ?? refused}.
        </p>
      )}
      {missing && (
        <p className="form-error" role="alert">
          This link is incomplete: it lacks the provider&apos;s code or state. Start the sign-in again.
        </p>
      )}
      <FormError error={error} />
      {failed && (
        <p>
          <a href={OIDC_START}>Try again with your identity provider</a> · <Link to="/login">Log in with a password</Link>
        </p>
      )}
    </PublicLayout>
  );
}
