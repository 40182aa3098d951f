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
import { useAction } from "../lib/useAction";
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

type MemberView = components["schemas"]["MemberView"];

function MemberRole({ orgId, member, disabled, onChanged }: { orgId: string; member: MemberView; disabled: boolean; onChanged: (m: string | null, e: unknown) => void }) {
  const [role, setRole] = useState<OrgRole>(member.role);
  const id = `role-of-${member.user_id}`;
  async function change() {
    try {
      unwrap(await api.PUT("/api/user/orgs/{id}/members/{user_id}", { params: { path: { id: orgId, user_id: member.user_id } }, body: { role } }));
      onChanged(`${member.email} is now ${role}.`, null);
    } catch (e) {
      setRole(member.role);
      onChanged(null, e);
    }
  }
  return (
    <div className="actions">
      <label htmlFor={id} className="visually-hidden">Role of {member.email}</label>
      <select id={id} value={role} disabled={disabled} onChange={(e) => setRole(e.target.value as OrgRole)}>
        {INVITABLE.map((r) => (
          <option key={r} value={r}>{r}</option>
        ))}
      </select>
      <button type="button" disabled={disabled || role === member.role} onClick={change}>
        Change role<span className="visually-hidden"> of {member.email}</span>
      </button>
    </div>
  );
}

/**
 * The organization's members. Owners and admins change roles and remove members (the server
 * decides who may touch an owner); anyone may leave a team organization.
 */
export function Members({ orgId, canManage, personal, onLeft }: { orgId: string; canManage: boolean; personal: boolean; onLeft: () => void }) {
  const { user } = useSession();
  const members = useAsync(async () => unwrap(await api.GET("/api/user/orgs/{id}/members", { params: { path: { id: orgId } } })), [orgId]);
  const { busy, error, run, setError } = useAction();
  const [done, setDone] = useState<string | null>(null);

  function changed(message: string | null, e: unknown) {
    setError(e);
    setDone(message);
    if (message) members.reload();
  }

  async function remove(m: MemberView) {
    const self = m.user_id === user?.id;
    if (!window.confirm(self ? "Leave this organization?" : `Remove ${m.email} from this organization?`)) return;
    setDone(null);
    await run(async () => {
      unwrap(await api.DELETE("/api/user/orgs/{id}/members/{user_id}", { params: { path: { id: orgId, user_id: m.user_id } } }));
      if (self) {
        setOrgId(null);
        onLeft();
        return;
      }
      setDone(`${m.email} is removed.`);
      members.reload();
    });
  }

  return (
    <>
      <h3>Members</h3>
      <p role="status">{done ?? ""}</p>
      <FormError error={error} />
      {members.status === "loading" && <Loading label="Loading the members" />}
      {members.status === "error" && <ErrorState error={members.error} onRetry={members.reload} />}
      {members.status === "ok" &&
        (members.data.data.length === 0 ? (
          <Empty>No members.</Empty>
        ) : (
          <div className="table-wrap">
            <table data-testid="members">
              <caption>Members of the current organization</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Email</th>
                  <th scope="col">Role</th>
                  <th scope="col">Joined</th>
                  {!personal && <th scope="col">Actions</th>}
                </tr>
              </thead>
              <tbody>
                {members.data.data.map((m) => {
                  const self = m.user_id === user?.id;
                  return (
                    <tr key={m.user_id}>
                      <th scope="row">
                        {m.first_name} {m.last_name}
                      </th>
                      <td>{m.email}</td>
                      <td>{canManage && !self && !personal ? <MemberRole orgId={orgId} member={m} disabled={busy} onChanged={changed} /> : m.role}</td>
                      <td>{formatDate(m.joined_at)}</td>
                      {!personal && (
                        <td>
                          {self ? (
                            <button type="button" disabled={busy} onClick={() => remove(m)}>
                              Leave
                            </button>
                          ) : (
                            canManage && (
                              <button type="button" disabled={busy} onClick={() => remove(m)}>
                                Remove<span className="visually-hidden"> {m.email}</span>
                              </button>
                            )
                          )}
                        </td>
                      )}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        ))}
    </>
  );
}
