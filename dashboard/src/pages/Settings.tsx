import { useState, type FormEvent } from "react";
import { api, unwrap } from "../api/client";
import { setOrgId, setSession, getAccessToken } from "../api/session";
import { Field } from "../components/Field";
import { Empty, ErrorState, FormError, Loading } from "../components/States";
import { useAsync } from "../lib/useAsync";
import { useSession } from "../lib/useSession";
import { collect, isValid, name as checkName, password as checkPassword, required, type Errors } from "../lib/validate";
import { CreateOrganization, Invitations, Members } from "./Team";
import { NotificationsSection } from "./Notifications";
import { WebhooksSection } from "./Webhooks";

function Profile() {
  const profile = useAsync(async () => unwrap(await api.GET("/api/user/account/profile")), []);
  if (profile.status === "loading") return <Loading label="Loading your profile" />;
  if (profile.status === "error") return <ErrorState error={profile.error} onRetry={profile.reload} />;
  return <ProfileForm initial={profile.data} />;
}

function ProfileForm({ initial }: { initial: { first_name: string; last_name: string; company_name?: string | null; email: string } }) {
  const [values, setValues] = useState({ first_name: initial.first_name, last_name: initial.last_name, company_name: initial.company_name ?? "" });
  const [errors, setErrors] = useState<Errors<"first_name" | "last_name" | "company_name">>({});
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    const found = collect({
      first_name: checkName(values.first_name, "your first name"),
      last_name: checkName(values.last_name, "your last name"),
      company_name: values.company_name.length > 200 ? "Use at most 200 characters." : undefined,
    });
    setErrors(found);
    setSaved(false);
    if (!isValid(found)) return;
    setError(null);
    try {
      const user = unwrap(
        await api.PUT("/api/user/account/profile", {
          body: { first_name: values.first_name.trim(), last_name: values.last_name.trim(), company_name: values.company_name.trim() || null },
        }),
      );
      const token = getAccessToken();
      if (token) setSession({ access_token: token, user });
      setSaved(true);
    } catch (err) {
      setError(err);
    }
  }
  return (
    <form onSubmit={submit} noValidate aria-labelledby="profile">
      <h2 id="profile">Profile</h2>
      <p className="muted">Email: {initial.email}</p>
      <Field label="First name" autoComplete="given-name" value={values.first_name} onChange={(e) => setValues({ ...values, first_name: e.target.value })} error={errors.first_name} />
      <Field label="Last name" autoComplete="family-name" value={values.last_name} onChange={(e) => setValues({ ...values, last_name: e.target.value })} error={errors.last_name} />
      <Field label="Company" autoComplete="organization" value={values.company_name} onChange={(e) => setValues({ ...values, company_name: e.target.value })} error={errors.company_name} />
      <FormError error={error} />
      <button type="submit" className="primary">Save profile</button>
      <span role="status">{saved ? " Saved." : ""}</span>
    </form>
  );
}

function Password() {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [errors, setErrors] = useState<Errors<"current" | "next">>({});
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const { user } = useSession();
  async function submit(e: FormEvent) {
    e.preventDefault();
    const found = collect({
      current: required(current, "Enter your current password."),
      next: checkPassword(next, user?.email) ?? (next === current ? "Choose a password different from the current one." : undefined),
    });
    setErrors(found);
    setSaved(false);
    if (!isValid(found)) return;
    setError(null);
    try {
      unwrap(await api.PUT("/api/user/account/password", { body: { current_password: current, new_password: next } }));
      setCurrent("");
      setNext("");
      setSaved(true);
    } catch (err) {
      setError(err);
    }
  }
  return (
    <form onSubmit={submit} noValidate aria-labelledby="password">
      <h2 id="password">Password</h2>
      <Field label="Current password" type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} error={errors.current} />
      <Field label="New password" type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} error={errors.next} hint="Your other sessions end when you change it." />
      <FormError error={error} />
      <button type="submit" className="primary">Change password</button>
      <span role="status">{saved ? " Password changed." : ""}</span>
    </form>
  );
}

function Organizations() {
  const { orgId, user } = useSession();
  const orgs = useAsync(async () => unwrap(await api.GET("/api/user/orgs")), [user?.id]);
  const activeId = orgId ?? (orgs.status === "ok" ? orgs.data.data.find((o) => o.personal)?.id : undefined);
  return (
    <section aria-labelledby="orgs">
      <h2 id="orgs">Organizations</h2>
      {orgs.status === "loading" && <Loading label="Loading your organizations" />}
      {orgs.status === "error" && <ErrorState error={orgs.error} onRetry={orgs.reload} />}
      <CreateOrganization onCreated={orgs.reload} />
      {orgs.status === "ok" &&
        (orgs.data.data.length === 0 ? (
          <Empty>You are in no organization.</Empty>
        ) : (
          <ul className="org-list">
            {orgs.data.data.map((o) => (
              <li key={o.id}>
                <strong>{o.name}</strong> ({o.personal ? "personal, " : ""}
                {o.role}){" "}
                {o.id === activeId ? (
                  <span className="badge">current</span>
                ) : (
                  <button type="button" onClick={() => setOrgId(o.personal ? null : o.id)}>
                    Work in {o.name}
                  </button>
                )}
              </li>
            ))}
          </ul>
        ))}
      {activeId && orgs.status === "ok" && (() => {
        const active = orgs.data.data.find((o) => o.id === activeId);
        return (
          <Members
            orgId={activeId}
            canManage={["owner", "admin"].includes(active?.role ?? "")}
            personal={active?.personal ?? false}
            onLeft={orgs.reload}
          />
        );
      })()}
      {activeId && orgs.status === "ok" && ["owner", "admin"].includes(orgs.data.data.find((o) => o.id === activeId)?.role ?? "") && (
        <Invitations orgId={activeId} />
      )}
    </section>
  );
}

export function SettingsPage() {
  return (
    <>
      <h1>Settings</h1>
      <div className="grid two">
        <section className="card">
          <Profile />
        </section>
        <section className="card">
          <Password />
        </section>
      </div>
      <Organizations />
      <NotificationsSection />
      <WebhooksSection />
    </>
  );
}
