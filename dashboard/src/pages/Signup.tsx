import { useState, type FormEvent } from "react";
import { Link } from "react-router-dom";
import { api, unwrap } from "../api/client";
import { Field } from "../components/Field";
import { PublicLayout } from "../components/Layout";
import { FormError } from "../components/States";
import { useAction } from "../lib/useAction";
import { collect, email as checkEmail, isValid, name, password as checkPassword, type Errors } from "../lib/validate";

type Key = "first_name" | "last_name" | "email" | "password" | "company_name";

export function validateSignup(v: Record<Key, string>): Errors<Key> {
  return collect({
    first_name: name(v.first_name, "your first name"),
    last_name: name(v.last_name, "your last name"),
    email: checkEmail(v.email),
    password: checkPassword(v.password, v.email),
    company_name: v.company_name.length > 200 ? "Use at most 200 characters." : undefined,
  });
}

export function SignupPage() {
  const [values, setValues] = useState<Record<Key, string>>({ first_name: "", last_name: "", email: "", password: "", company_name: "" });
  const [errors, setErrors] = useState<Errors<Key>>({});
  const { busy, error, run } = useAction();
  const [done, setDone] = useState(false);
  const set = (k: Key) => (e: { target: { value: string } }) => setValues((v) => ({ ...v, [k]: e.target.value }));

  async function submit(e: FormEvent) {
    e.preventDefault();
    const found = validateSignup(values);
    setErrors(found);
    if (!isValid(found)) return;
    await run(async () => {
      unwrap(
        await api.POST("/api/user/auth/register", {
          body: {
            email: values.email.trim(),
            password: values.password,
            first_name: values.first_name.trim(),
            last_name: values.last_name.trim(),
            company_name: values.company_name.trim() || null,
          },
        }),
      );
      setDone(true);
    });
  }

  if (done) {
    return (
      <PublicLayout>
        <h1>Check your email</h1>
        <p role="status">
          Your account is created. We sent a verification link to <strong>{values.email.trim()}</strong>. You can{" "}
          <Link to="/login">log in</Link> now.
        </p>
      </PublicLayout>
    );
  }
  return (
    <PublicLayout>
      <h1>Sign up</h1>
      <form onSubmit={submit} noValidate>
        <Field label="First name" autoComplete="given-name" value={values.first_name} onChange={set("first_name")} error={errors.first_name} />
        <Field label="Last name" autoComplete="family-name" value={values.last_name} onChange={set("last_name")} error={errors.last_name} />
        <Field label="Email" type="email" autoComplete="email" value={values.email} onChange={set("email")} error={errors.email} />
        <Field
          label="Password"
          type="password"
          autoComplete="new-password"
          value={values.password}
          onChange={set("password")}
          error={errors.password}
          hint="10 characters or more, with a letter and a digit or symbol."
        />
        <Field label="Company (optional)" autoComplete="organization" value={values.company_name} onChange={set("company_name")} error={errors.company_name} />
        <FormError error={error} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Creating your account…" : "Create account"}
        </button>
      </form>
      <p>
        Already have an account? <Link to="/login">Log in</Link>
      </p>
    </PublicLayout>
  );
}
