// The organization's notification settings: which events are mailed, and a Slack channel
// (when the plan includes it).
import { useEffect, useState, type FormEvent } from "react";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { Field } from "../components/Field";
import { ErrorState, FormError, Loading } from "../components/States";
import { formatDateTime } from "../lib/format";
import { useAction } from "../lib/useAction";
import { useAsync } from "../lib/useAsync";
import { useSession } from "../lib/useSession";

const SLACK_RE = /^https:\/\/hooks\.slack\.com\/\S+$/;

export function NotificationsSection() {
  const { orgId } = useSession();
  const settings = useAsync(async () => unwrap(await api.GET("/api/user/notifications/settings")), [orgId]);
  const [email, setEmail] = useState<Record<string, boolean>>({});
  const [slackUrl, setSlackUrl] = useState("");
  const [slackError, setSlackError] = useState<string | undefined>(undefined);
  const { busy, error, run } = useAction();
  const [saved, setSaved] = useState<string | null>(null);

  useEffect(() => {
    if (settings.status === "ok") setEmail(settings.data.email);
  }, [settings.status, settings.data]);

  async function save(body: components["schemas"]["UpdateNotificationSettingsRequest"], message: string) {
    setSaved(null);
    await run(async () => {
      unwrap(await api.PUT("/api/user/notifications/settings", { body }));
      setSaved(message);
      setSlackUrl("");
      settings.reload();
    });
  }

  function saveEmail(e: FormEvent) {
    e.preventDefault();
    void save({ email }, "Email notifications saved.");
  }

  function saveSlack(e: FormEvent) {
    e.preventDefault();
    const url = slackUrl.trim();
    const problem = SLACK_RE.test(url) ? undefined : "Enter a Slack incoming-webhook URL (https://hooks.slack.com/...).";
    setSlackError(problem);
    if (problem) return;
    void save({ slack: { webhook_url: url, events: ["*"] } }, "The Slack channel is saved.");
  }

  const types = Object.keys(email).sort();
  return (
    <section aria-labelledby="notifications">
      <h2 id="notifications">Notifications</h2>
      {settings.status === "loading" && <Loading label="Loading the notification settings" />}
      {settings.status === "error" && <ErrorState error={settings.error} onRetry={settings.reload} />}
      {settings.status === "ok" && (
        <>
          <form onSubmit={saveEmail} aria-label="Email notifications">
            <fieldset>
              <legend>Mail the organization&apos;s owners about</legend>
              {types.length === 0 && <p className="muted">No event can be mailed.</p>}
              {types.map((t) => (
                <label key={t} className="check">
                  <input type="checkbox" checked={email[t] ?? false} onChange={(e) => setEmail((x) => ({ ...x, [t]: e.target.checked }))} /> {t}
                </label>
              ))}
            </fieldset>
            <button type="submit" disabled={busy}>Save email notifications</button>{" "}
            <span className="muted">
              {settings.data.updated_at ? `Last saved ${formatDateTime(settings.data.updated_at)}` : "The defaults apply."}
            </span>
          </form>
          <h3>Slack</h3>
          {!settings.data.slack_available ? (
            <p className="muted">Slack notifications come with a paid plan.</p>
          ) : (
            <>
              {settings.data.slack ? (
                <p>
                  Posting {settings.data.slack.events.includes("*") ? "every event" : settings.data.slack.events.join(", ")} to{" "}
                  <code>{settings.data.slack.webhook_url}</code>{" "}
                  <button type="button" className="danger" disabled={busy} onClick={() => void save({ slack: null }, "The Slack channel is removed.")}>
                    Remove Slack
                  </button>
                </p>
              ) : (
                <p className="muted">No Slack channel.</p>
              )}
              <form onSubmit={saveSlack} noValidate className="inline-form" aria-label="Slack channel">
                <Field
                  label={settings.data.slack ? "New Slack incoming-webhook URL" : "Slack incoming-webhook URL"}
                  type="url"
                  value={slackUrl}
                  onChange={(e) => setSlackUrl(e.target.value)}
                  error={slackError}
                  placeholder="https://hooks.slack.com/services/..."
                />
                <button type="submit" disabled={busy}>Save Slack channel</button>
              </form>
            </>
          )}
          <p role="status">{saved ?? ""}</p>
          <FormError error={error} />
        </>
      )}
    </section>
  );
}
