import { lazy, Suspense, useEffect, useState, type ReactNode } from "react";
import { BrowserRouter, Navigate, Route, Routes, useLocation } from "react-router-dom";
import { refreshSession } from "./api/client";
import { ErrorBoundary } from "./components/ErrorBoundary";
import { Layout } from "./components/Layout";
import { Loading } from "./components/States";
import { useSession } from "./lib/useSession";
import { AdminLoginPage } from "./pages/AdminLogin";
import { ForgotPasswordPage, ResetPasswordPage, VerifyEmailPage } from "./pages/AccountLinks";
import { BillingPage } from "./pages/Billing";
import { KeysPage } from "./pages/Keys";
import { LoginPage } from "./pages/Login";
import { NotFoundPage } from "./pages/NotFound";
import { OIDC_CALLBACK_PATH, OidcCallbackPage } from "./pages/OidcCallback";
import { OverviewPage } from "./pages/Overview";
import { PricingPage } from "./pages/Pricing";
import { SettingsPage } from "./pages/Settings";
import { SignupPage } from "./pages/Signup";
import { AcceptInvitationPage } from "./pages/Team";
import { UsagePage } from "./pages/Usage";

// The operator area is its own chunk: consumers never download it.
const AdminApp = lazy(() => import("./admin/AdminApp"));

function RequireAuth({ children, admin = false }: { children: ReactNode; admin?: boolean }) {
  const { token, user } = useSession();
  const location = useLocation();
  if (!token) {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`${admin ? "/admin/login" : "/login"}?next=${next}`} replace />;
  }
  if (admin && user?.role !== "admin") {
    return (
      <Layout>
        <h1>Operators only</h1>
        <p>This area needs an operator (admin) account.</p>
      </Layout>
    );
  }
  return <Layout>{children}</Layout>;
}

/** The invitation link works logged out too: the page sends to the login first. */
function AcceptInvitationGate() {
  const { token } = useSession();
  return token ? (
    <Layout>
      <AcceptInvitationPage />
    </Layout>
  ) : (
    <AcceptInvitationPage />
  );
}

export function App() {
  const [booting, setBooting] = useState(true);
  useEffect(() => {
    // A session survives a reload through the HttpOnly refresh cookie.
    void refreshSession().finally(() => setBooting(false));
  }, []);
  if (booting) return <Loading label="Starting" />;
  return (
    <BrowserRouter>
      <Routes>
        <Route path="/login" element={<LoginPage />} />
        <Route path="/signup" element={<SignupPage />} />
        <Route path="/verify-email" element={<VerifyEmailPage />} />
        <Route path="/forgot-password" element={<ForgotPasswordPage />} />
        <Route path="/reset-password" element={<ResetPasswordPage />} />
        <Route path="/pricing" element={<PricingPage />} />
        <Route path={OIDC_CALLBACK_PATH} element={<OidcCallbackPage />} />
        <Route path="/admin/login" element={<AdminLoginPage />} />
        <Route path="/" element={<RequireAuth><OverviewPage /></RequireAuth>} />
        <Route path="/keys" element={<RequireAuth><KeysPage /></RequireAuth>} />
        <Route path="/usage" element={<RequireAuth><UsagePage /></RequireAuth>} />
        <Route path="/billing" element={<RequireAuth><BillingPage /></RequireAuth>} />
        <Route path="/settings" element={<RequireAuth><SettingsPage /></RequireAuth>} />
        <Route path="/accept-invitation" element={<AcceptInvitationGate />} />
        <Route
          path="/admin/*"
          element={
            <RequireAuth admin>
              <ErrorBoundary what="operator area">
                <Suspense fallback={<Loading />}>
                  <AdminApp />
                </Suspense>
              </ErrorBoundary>
            </RequireAuth>
          }
        />
        <Route path="*" element={<NotFoundPage />} />
      </Routes>
    </BrowserRouter>
  );
}
