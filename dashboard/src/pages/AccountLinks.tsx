// The pages the mails link to (verify-email, reset-password) and forgot-password.
import { useEffect, useRef, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { api, refreshSession, unwrap } from "../api/client";
import { getAccessToken } from "../api/session";
import { Field } from "../components/Field";
import { PublicLayout } from "../components/Layout";
import { ErrorState, FormError, Loading } from "../components/States";
import { useAction } from "../lib/useAction";
import { collect, email as checkEmail, isValid, password as checkPassword, type Errors } from "../lib/validate";

export function VerifyEmailPage() {
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const [state, setState] = useState<{ status: "loading" | "ok" } | { status: "error"; error: unknown }>({ status: "loading" });
  const sent = useRef(false);
  useEffect(() => {
    if (sent.current) return; // the token is single-use: send it once (StrictMode runs effects twice)
    sent.current = true;
    if (!token) {
      setState({ status: "error", error: new Error("This link has no token. Open the link from the mail again.") });
      return;
    }
    api.POST("/api/user/auth/verify-email", { body: { token } }).then(
      (r) => {
        try {
          unwrap(r);
          setState({ status: "ok" });
          // A logged-in user's profile now says verified.
          if (getAccessToken()) void refreshSession();
        } catch (error) {
          setState({ status: "error", error });
        }
      },
      (error: unknown) => setState({ status: "error", error }),
    );
  }, [token]);
  return (
    <PublicLayout>
      <h1>Verify your email</h1>
      {state.status === "loading" && <Loading label="Verifying" />}
      {state.status === "ok" && (
        <p role="status">
          Your email address is verified. <Link to="/">Continue to the dashboard</Link>.
        </p>
      )}
      {state.status === "error" && <ErrorState error={state.error} />}
    </PublicLayout>
  );
}

export function ForgotPasswordPage() {
  const [email, setEmail] = useState("");
  const [errors, setErrors] = useState<Errors<"email">>({});
  const { busy, error, run } = useAction();
  const [done, setDone] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    const found = collect({ email: checkEmail(email) });
    setErrors(found);
    if (!isValid(found)) return;
    await run(async () => {
      unwrap(await api.POST("/api/user/auth/forgot-password", { body: { email: email.trim() } }));
      setDone(true);
    });
  }
  return (
    <PublicLayout>
      <h1>Forgot your password?</h1>
      {done ? (
        <p role="status">If an account exists for {email.trim()}, we sent it a link to choose a new password.</p>
      ) : (
        <form onSubmit={submit} noValidate>
          <Field label="Email" type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} error={errors.email} />
          <FormError error={error} />
          <button type="submit" className="primary" disabled={busy}>
            Send the link
          </button>
        </form>
      )}
    </PublicLayout>
  );
}

export function ResetPasswordPage() {
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [errors, setErrors] = useState<Errors<"password" | "confirm">>({});
  const { busy, error, run } = useAction();
  const [done, setDone] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    const found = collect({
      password: checkPassword(password),
      confirm: confirm === password ? undefined : "The two passwords differ.",
    });
    setErrors(found);
    if (!isValid(found)) return;
    await run(async () => {
      unwrap(await api.POST("/api/user/auth/reset-password", { body: { token, password } }));
      setDone(true);
    });
  }
  return (
    <PublicLayout>
      <h1>Choose a new password</h1>
      {!token ? (
        <ErrorState error={new Error("This link has no token. Open the link from the mail again.")} />
      ) : done ? (
        <p role="status">
          Your password is changed and every session has ended. <Link to="/login">Log in</Link> with the new one.
        </p>
      ) : (
        <form onSubmit={submit} noValidate>
          <Field label="New password" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} error={errors.password} />
          <Field label="Repeat the new password" type="password" autoComplete="new-password" value={confirm} onChange={(e) => setConfirm(e.target.value)} error={errors.confirm} />
          <FormError error={error} />
          <button type="submit" className="primary" disabled={busy}>
            Change password
          </button>
        </form>
      )}
    </PublicLayout>
  );
}
