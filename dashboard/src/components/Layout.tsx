import { useEffect, useRef, type ReactNode } from "react";
import { Link, NavLink, useLocation, useNavigate } from "react-router-dom";
import { api, unwrap } from "../api/client";
import { clearSession, setOrgId } from "../api/session";
import { useAsync } from "../lib/useAsync";
import { useSession } from "../lib/useSession";

function OrgSwitcher() {
  const { orgId, user } = useSession();
  // Refetched when the organization changes (a new one was created or joined).
  const orgs = useAsync(async () => unwrap(await api.GET("/api/user/orgs")), [user?.id, orgId]);
  if (orgs.status !== "ok" || orgs.data.data.length < 2) return null;
  const personal = orgs.data.data.find((o) => o.personal);
  return (
    <div className="org-switcher">
      <label htmlFor="org-switcher">Organization</label>
      <select
        id="org-switcher"
        value={orgId ?? personal?.id ?? ""}
        onChange={(e) => setOrgId(e.target.value === personal?.id ? null : e.target.value)}
      >
        {orgs.data.data.map((o) => (
          <option key={o.id} value={o.id}>
            {o.name}
            {o.personal ? " (personal)" : ""}
          </option>
        ))}
      </select>
    </div>
  );
}

export function Layout({ children }: { children: ReactNode }) {
  const { user } = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  const main = useRef<HTMLElement>(null);
  // On navigation, move focus to the page (screen readers announce the new page).
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.focus();
  }, [location.pathname]);

  async function logout() {
    try {
      await api.POST("/api/user/auth/logout");
    } finally {
      clearSession();
      navigate("/login");
    }
  }

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand">
          tollgate
        </Link>
        <nav aria-label="Main">
          <ul>
            <li><NavLink to="/" end>Overview</NavLink></li>
            <li><NavLink to="/keys">API keys</NavLink></li>
            <li><NavLink to="/usage">Usage</NavLink></li>
            <li><NavLink to="/billing">Billing</NavLink></li>
            <li><NavLink to="/settings">Settings</NavLink></li>
            <li><NavLink to="/pricing">Pricing</NavLink></li>
            {user?.role === "admin" && <li><NavLink to="/admin">Operator</NavLink></li>}
          </ul>
        </nav>
        <div className="topbar-end">
          <OrgSwitcher />
          <span className="who">{user?.email}</span>
          <button type="button" className="link-button" onClick={logout}>
            Log out
          </button>
        </div>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}

/** The frame of the pages reachable without a session (login, sign-up, pricing...). */
export function PublicLayout({ children }: { children: ReactNode }) {
  return (
    <div className="app public">
      <header className="topbar">
        <Link to="/" className="brand">
          tollgate
        </Link>
        <nav aria-label="Main">
          <ul>
            <li><NavLink to="/pricing">Pricing</NavLink></li>
            <li><NavLink to="/login">Log in</NavLink></li>
            <li><NavLink to="/signup">Sign up</NavLink></li>
          </ul>
        </nav>
      </header>
      <main id="main" tabIndex={-1} className="narrow">
        {children}
      </main>
    </div>
  );
}
