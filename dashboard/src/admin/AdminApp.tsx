// The operator area (admin role): its own chunk, loaded only when an operator opens it.
import { NavLink, Route, Routes } from "react-router-dom";
import { AnalyticsPage } from "./Analytics";
import { AuditPage } from "./Audit";
import { EndpointsPage } from "./Endpoints";
import { JobsPage } from "./Jobs";
import { PlansPage } from "./Plans";
import { RevenuePage } from "./Revenue";
import { SubscriptionsPage } from "./Subscriptions";
import { UserDetailPage, UsersPage } from "./Users";

export default function AdminApp() {
  return (
    <>
      <nav aria-label="Operator" className="subnav">
        <ul>
          <li><NavLink to="/admin" end>Users</NavLink></li>
          <li><NavLink to="/admin/analytics">Analytics</NavLink></li>
          <li><NavLink to="/admin/plans">Plans</NavLink></li>
          <li><NavLink to="/admin/subscriptions">Subscriptions</NavLink></li>
          <li><NavLink to="/admin/endpoints">Endpoints</NavLink></li>
          <li><NavLink to="/admin/audit">Audit log</NavLink></li>
          <li><NavLink to="/admin/revenue">Revenue</NavLink></li>
          <li><NavLink to="/admin/jobs">Jobs</NavLink></li>
        </ul>
      </nav>
      <Routes>
        <Route index element={<UsersPage />} />
        <Route path="users/:id" element={<UserDetailPage />} />
        <Route path="analytics" element={<AnalyticsPage />} />
        <Route path="plans" element={<PlansPage />} />
        <Route path="subscriptions" element={<SubscriptionsPage />} />
        <Route path="endpoints" element={<EndpointsPage />} />
        <Route path="audit" element={<AuditPage />} />
        <Route path="revenue" element={<RevenuePage />} />
        <Route path="jobs" element={<JobsPage />} />
        <Route path="*" element={<p>No such operator page.</p>} />
      </Routes>
    </>
  );
}
