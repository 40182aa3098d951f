import { useState, type FormEvent } from "react";
import { useNavigate, useSearchParams } from "react-router-dom";
import { api, unwrap } from "../api/client";
import { setSession } from "../api/session";
import { Field } from "../components/Field";
import { PublicLayout } from "../components/Layout";
import { FormError } from "../components/States";
import { useAction } from "../lib/useAction";
import { collect, email as checkEmail, isValid, required, type Errors } from "../lib/validate";
import { safeNext } from "./Login";

/** The operators' login: email and password, then a TOTP or recovery code if 2FA is on. */
export function AdminLoginPage() {
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [mfaToken, setMfaToken] = useState<string | null>(null);
  const [errors, setErrors] = useState<Errors<"email" | "password" | "code">>({});
  const { busy, error, run } = useAction();
  const done = () => navigate(safeNext(params.get("next"), "/admin"), { replace: true });

  async function submit(e: FormEvent) {
    e.preventDefault();
    const found: Errors<"email" | "password" | "code"> = mfaToken
      ? collect({ code: required(code, "Enter the code from your authenticator app or a recovery code.") })
      : collect({ email: checkEmail(email), password: required(password, "Enter your password.") });
    setErrors(found);
    if (!isValid(found)) return;
    await run(async () => {
      if (mfaToken) {
        setSession(unwrap(await api.POST("/api/admin/auth/login/2fa", { body: { mfa_token: mfaToken, code: code.trim() } })));
        done();
        return;
      }
      const answer = unwrap(await api.POST("/api/admin/auth/login", { body: { email: email.trim(), password } }));
      if ("mfa_required" in answer && answer.mfa_required) {
        setMfaToken(answer.mfa_token);
      } else if ("access_token" in answer) {
        setSession(answer);
        done();
      }
    });
  }

  return (
    <PublicLayout>
      <h1>Operator login</h1>
      <form onSubmit={submit} noValidate>
        {mfaToken ? (
          <Field
            label="Two-factor code"
            inputMode="numeric"
            autoComplete="one-time-code"
            autoFocus
            value={code}
            onChange={(e) => setCode(e.target.value)}
            error={errors.code}
            hint="The 6-digit code of your authenticator app, or one of your recovery codes."
          />
        ) : (
          <>
            <Field label="Email" type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} error={errors.email} />
            <Field label="Password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} error={errors.password} />
          </>
        )}
        <FormError error={error} />
        <button type="submit" className="primary" disabled={busy}>
          {mfaToken ? "Verify" : "Log in"}
        </button>
      </form>
    </PublicLayout>
  );
}
