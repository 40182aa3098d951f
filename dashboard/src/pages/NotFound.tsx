import { Link } from "react-router-dom";
import { PublicLayout } from "../components/Layout";

export function NotFoundPage() {
  return (
    <PublicLayout>
      <h1>Page not found</h1>
      <p>
        There is no page here. <Link to="/">Go to the overview</Link>.
      </p>
    </PublicLayout>
  );
}
