// Organizations: create one, invite members (and withdraw invitations), accept an invitation.
import { useEffect, useRef, useState, type FormEvent } from "react";
import { Link, Navigate, useLocation, useSearchParams } from "react-router-dom";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { setOrgId } from "../api/session";
import { Field } from "../components/Field";
import { Empty, ErrorState, FormError, Loading } from "../components/States";
import { formatDate } from "../lib/format";
import { useAsync } from "../lib/useAsync";
import { useSession } from "../lib/useSession";
import { collect, email as checkEmail, isValid, name as checkName, type Errors } from "../lib/validate";

type OrgRole = components["schemas"]["OrgRole"];
const INVITABLE: OrgRole[] = ["member", "viewer", "manager", "admin", "owner"];

export function CreateOrganization({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState("");
  const [errors, setErrors] = useState<Errors<"name">>({});
  const [error, setError] = useState<unknown>(null);
  async function submit(e: FormEvent) {
    e.preventDefault();
    const found = collect({ name: checkName(name, "a name for the organization") });
    setErrors(found);
    if (!isValid(found)) return;
    setError(null);
    try {
      const org = unwrap(await api.POST("/api/user/orgs", { body: { name: name.trim() } }));
      setName("");
      setOrgId(org.id);
      onCreated();
    } catch (err) {
      setError(err);
    }
  }
  return (
    <form onSubmit={submit} noValidate className="inline-form" aria-label="Create an organization">
      <Field label="New organization" value={name} onChange={(e) => setName(e.target.value)} error={errors.name} placeholder="Analytical Engines" />
      <button type="submit">Create organization</button>
      <FormError error={error} />
    </form>
  );
}

export function Invitations({ orgId }: { orgId: string }) {
  const list = useAsync(async () => unwrap(await api.GET("/api/user/orgs/{id}/invitations", { params: { path: { id: orgId } } })), [orgId]);
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<OrgRole>("member");
  const [errors, setErrors] = useState<Errors<"email">>({});
  const [error, setError] = useState<unknown>(null);
  const [sent, setSent] = useState<string | null>(null);
  async function invite(e: FormEvent) {
    e.preventDefault();
    const found = collect({ email: checkEmail(email) });
    setErrors(found);
    setSent(null);
    if (!isValid(found)) return;
    setError(null);
    try {
      unwrap(await api.POST("/api/user/orgs/{id}/invitations", { params: { path: { id: orgId } }, body: { email: email.trim(), role } }));
      setSent(`Invitation sent to ${email.trim()}.`);
      setEmail("");
      list.reload();
    } catch (err) {
      setError(err);
    }
  }
  async function withdraw(id: string) {
    setError(null);
    try {
      unwrap(await api.DELETE("/api/user/orgs/{id}/invitations/{invitation_id}", { params: { path: { id: orgId, invitation_id: id } } }));
      list.reload();
    } catch (err) {
      setError(err);
    }
  }
  return (
    <section aria-labelledby="invitations">
      <h3 id="invitations">Invitations</h3>
      <form onSubmit={invite} noValidate className="inline-form" aria-label="Invite a member">
        <Field label="Email to invite" type="email" value={email} onChange={(e) => setEmail(e.target.value)} error={errors.email} />
        <div className="field">
          <label htmlFor="invite-role">Role</label>
          <select id="invite-role" value={role} onChange={(e) => setRole(e.target.value as OrgRole)}>
            {INVITABLE.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </div>
        <button type="submit">Invite</button>
        <FormError error={error} />
      </form>
      <p role="status">{sent ?? ""}</p>
      {list.status === "loading" && <Loading label="Loading the invitations" />}
      {list.status === "error" && <ErrorState error={list.error} onRetry={list.reload} />}
      {list.status === "ok" &&
        (list.data.data.length === 0 ? (
          <Empty>No open invitations.</Empty>
        ) : (
          <ul className="org-list">
            {list.data.data.map((i) => (
              <li key={i.id}>
                {i.email} as {i.role} · {i.pending ? `valid until ${formatDate(i.expires_at)}` : "expired"}{" "}
                <button type="button" onClick={() => withdraw(i.id)}>
                  Withdraw<span className="visually-hidden"> the invitation of {i.email}</span>
                </button>
              </li>
            ))}
          </ul>
        ))}
    </section>
  );
}

/** The invitation mail's link: `/accept-invitation?token=...` (log in first). */
export function AcceptInvitationPage() {
  const { token: session } = useSession();
  const location = useLocation();
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const [state, setState] = useState<{ status: "loading" } | { status: "ok"; name: string } | { status: "error"; error: unknown }>({ status: "loading" });
  const sent = useRef(false);
  useEffect(() => {
    if (!session || sent.current) return;
    sent.current = true;
    if (!token) {
      setState({ status: "error", error: new Error("This link has no token. Open the link from the mail again.") });
      return;
    }
    api.POST("/api/user/invitations/accept", { body: { token } }).then(
      (r) => {
        try {
          const org = unwrap(r);
          setOrgId(org.id);
          setState({ status: "ok", name: org.name });
        } catch (error) {
          setState({ status: "error", error });
        }
      },
      (error: unknown) => setState({ status: "error", error }),
    );
  }, [session, token]);
  if (!session) return <Navigate to={`/login?next=${encodeURIComponent(location.pathname + location.search)}`} replace />;
  return (
    <>
      <h1>Join an organization</h1>
      {state.status === "loading" && <Loading label="Accepting the invitation" />}
      {state.status === "error" && <ErrorState error={state.error} />}
      {state.status === "ok" && (
        <p role="status">
          You joined {state.name}, now your current organization. <Link to="/">Go to its overview</Link>.
        </p>
      )}
    </>
  );
}
