import { useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { api, unwrap } from "../api/client";
import { setSession } from "../api/session";
import { Field } from "../components/Field";
import { PublicLayout } from "../components/Layout";
import { FormError } from "../components/States";
import { OIDC_START } from "./OidcCallback";
import { useAction } from "../lib/useAction";
import { collect, email as checkEmail, isValid, required, type Errors } from "../lib/validate";

/** Where to go after a login: a path of this app only (never another site). */
export function safeNext(next: string | null, fallback = "/"): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : fallback;
}

export function LoginPage() {
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState<Errors<"email" | "password">>({});
  const { busy, error, run } = useAction();

  async function submit(e: FormEvent) {
    e.preventDefault();
    const found = collect({ email: checkEmail(email), password: required(password, "Enter your password.") });
    setErrors(found);
    if (!isValid(found)) return;
    await run(async () => {
      const tokens = unwrap(await api.POST("/api/user/auth/login", { body: { email: email.trim(), password } }));
      setSession(tokens);
      navigate(safeNext(params.get("next")), { replace: true });
    });
  }

  return (
    <PublicLayout>
      <h1>Log in</h1>
      <form onSubmit={submit} noValidate>
        <Field label="Email" type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} error={errors.email} />
        <Field
          label="Password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={errors.password}
        />
        <FormError error={error} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
      <p>
        {/* A full page navigation: the server redirects to the provider, which comes back to /auth/oidc/callback. */}
        <a href={OIDC_START}>Sign in with your identity provider</a>
      </p>
      <p>
        <Link to="/forgot-password">Forgot your password?</Link> · No account? <Link to="/signup">Sign up</Link> · <Link to="/admin/login">Operator login</Link>
      </p>
    </PublicLayout>
  );
}
