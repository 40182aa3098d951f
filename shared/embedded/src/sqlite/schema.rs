//! The schema as an ordered list of migrations.
//!
//! `PRAGMA user_version` holds how many of them have run. Migrations are append-only: never
//! edit one that has shipped; add a new one at the end instead.

/// Every migration, oldest first. Index `i` brings the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: users, organizations, memberships, sessions, API keys, counters, audit, idempotency.
    r#"
CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    first_name      TEXT NOT NULL,
    last_name       TEXT NOT NULL,
    company_name    TEXT,
    role            TEXT NOT NULL,
    status          TEXT NOT NULL,
    email_verified  INTEGER NOT NULL,
    default_org_id  TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    deleted_at      INTEGER
) STRICT;
-- Deleted users release their email: uniqueness only among the others.
CREATE UNIQUE INDEX users_email_live ON users(email) WHERE deleted_at IS NULL;
CREATE INDEX users_admins ON users(role) WHERE deleted_at IS NULL;

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    owner_id    TEXT NOT NULL REFERENCES users(id),
    personal    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE memberships (
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    role        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
) STRICT;
CREATE INDEX memberships_user ON memberships(user_id, created_at);

CREATE TABLE refresh_families (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    revoked_at      INTEGER,
    revoked_reason  TEXT
) STRICT;
CREATE INDEX refresh_families_user ON refresh_families(user_id);

CREATE TABLE refresh_tokens (
    hash        TEXT PRIMARY KEY,
    family_id   TEXT NOT NULL REFERENCES refresh_families(id),
    user_id     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    rotated_at  INTEGER
) STRICT;
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);

CREATE TABLE action_tokens (
    hash        TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
) STRICT;

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    name            TEXT NOT NULL,
    display_prefix  TEXT NOT NULL,
    last4           TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER,
    expires_at      INTEGER,
    revoked_at      INTEGER,
    rotated_at      INTEGER
) STRICT;
CREATE INDEX api_keys_org ON api_keys(org_id, created_at);

CREATE TABLE api_key_secrets (
    hash         TEXT PRIMARY KEY,
    key_id       TEXT NOT NULL REFERENCES api_keys(id),
    org_id       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    valid_until  INTEGER
) STRICT;
CREATE INDEX api_key_secrets_key ON api_key_secrets(key_id);

CREATE TABLE attempt_counters (
    bucket        TEXT NOT NULL,
    window_start  INTEGER NOT NULL,
    count         INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    PRIMARY KEY (bucket, window_start)
) STRICT, WITHOUT ROWID;
CREATE INDEX attempt_counters_expiry ON attempt_counters(expires_at);

CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor_id    TEXT,
    org_id      TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    ip          TEXT,
    details     TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_org_at ON audit_log(org_id, at);

CREATE TABLE idempotency (
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    claimed_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) STRICT, WITHOUT ROWID;
"#,
    // 2: plans, subscriptions, endpoints, usage counters, usage logs and aggregates.
    r#"
CREATE TABLE plans (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    description     TEXT,
    billing_type    TEXT NOT NULL,
    price           INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    rate_limit      INTEGER NOT NULL,
    burst           INTEGER,
    monthly_limit   INTEGER,
    overage_price   INTEGER,
    retention_days  INTEGER NOT NULL,
    max_api_keys    INTEGER NOT NULL,
    features        TEXT NOT NULL,
    status          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX plans_price_name ON plans(price, name);

-- One per organization: the unique org_id makes `ensure_subscription` exact. No foreign
-- keys: plans are deleted only through `delete_plan_if_unused`, which checks this table.
CREATE TABLE subscriptions (
    id                    TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL UNIQUE,
    plan_id               TEXT NOT NULL,
    status                TEXT NOT NULL,
    cancel_at_period_end  INTEGER NOT NULL,
    canceled_at           INTEGER,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
) STRICT;
CREATE INDEX subscriptions_created ON subscriptions(created_at);
CREATE INDEX subscriptions_plan ON subscriptions(plan_id, created_at);

CREATE TABLE endpoints (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    description   TEXT,
    method        TEXT NOT NULL,
    path          TEXT NOT NULL,
    upstream_url  TEXT NOT NULL,
    cost_units    INTEGER NOT NULL,
    rate_limit    INTEGER,
    public        INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (method, path)
) STRICT;
CREATE INDEX endpoints_path_method ON endpoints(path, method);

CREATE TABLE usage_counters (
    org_id      TEXT NOT NULL,
    period      TEXT NOT NULL,
    used        INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (org_id, period)
) STRICT, WITHOUT ROWID;
CREATE INDEX usage_counters_expiry ON usage_counters(expires_at);

CREATE TABLE usage_logs (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    endpoint_id  TEXT NOT NULL,
    method       TEXT NOT NULL,
    path         TEXT NOT NULL,
    status       INTEGER NOT NULL,
    latency_ms   INTEGER NOT NULL,
    cost_units   INTEGER NOT NULL,
    ip           TEXT,
    ts           INTEGER NOT NULL,
    period       TEXT NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX usage_logs_org_ts ON usage_logs(org_id, ts, id);
CREATE INDEX usage_logs_ts ON usage_logs(ts, id);
CREATE INDEX usage_logs_expiry ON usage_logs(expires_at);

-- latency_buckets: JSON array of counts, one per `LATENCY_BOUNDS_MS` bucket.
CREATE TABLE usage_aggregates (
    org_id           TEXT NOT NULL,
    granularity      TEXT NOT NULL,
    bucket_start     INTEGER NOT NULL,
    key_id           TEXT NOT NULL,
    endpoint_id      TEXT NOT NULL,
    count            INTEGER NOT NULL,
    cost_units       INTEGER NOT NULL,
    status_2xx       INTEGER NOT NULL,
    status_4xx       INTEGER NOT NULL,
    status_5xx       INTEGER NOT NULL,
    latency_sum_ms   INTEGER NOT NULL,
    latency_buckets  TEXT NOT NULL,
    PRIMARY KEY (org_id, granularity, bucket_start, key_id, endpoint_id)
) STRICT, WITHOUT ROWID;
"#,
    // 3: shared rate windows (checked in the quota's transaction) and the latency histogram
    // as one column per bucket, so a batch adds to it in SQL instead of re-parsing JSON.
    r#"
CREATE TABLE rate_windows (
    bucket        TEXT PRIMARY KEY,
    window_start  INTEGER NOT NULL,
    used          INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- lb<i>: the count of latency bucket i of `LATENCY_BOUNDS_MS` (13 buckets).
CREATE TABLE usage_aggregates_columnar (
    org_id           TEXT NOT NULL,
    granularity      TEXT NOT NULL,
    bucket_start     INTEGER NOT NULL,
    key_id           TEXT NOT NULL,
    endpoint_id      TEXT NOT NULL,
    count            INTEGER NOT NULL,
    cost_units       INTEGER NOT NULL,
    status_2xx       INTEGER NOT NULL,
    status_4xx       INTEGER NOT NULL,
    status_5xx       INTEGER NOT NULL,
    latency_sum_ms   INTEGER NOT NULL,
    lb0              INTEGER NOT NULL,
    lb1              INTEGER NOT NULL,
    lb2              INTEGER NOT NULL,
    lb3              INTEGER NOT NULL,
    lb4              INTEGER NOT NULL,
    lb5              INTEGER NOT NULL,
    lb6              INTEGER NOT NULL,
    lb7              INTEGER NOT NULL,
    lb8              INTEGER NOT NULL,
    lb9              INTEGER NOT NULL,
    lb10             INTEGER NOT NULL,
    lb11             INTEGER NOT NULL,
    lb12             INTEGER NOT NULL,
    PRIMARY KEY (org_id, granularity, bucket_start, key_id, endpoint_id)
) STRICT, WITHOUT ROWID;
INSERT INTO usage_aggregates_columnar
    SELECT org_id, granularity, bucket_start, key_id, endpoint_id, count, cost_units, status_2xx, status_4xx,
           status_5xx, latency_sum_ms,
           json_extract(latency_buckets, '$[0]'), json_extract(latency_buckets, '$[1]'), json_extract(latency_buckets, '$[2]'), json_extract(latency_buckets, '$[3]'), json_extract(latency_buckets, '$[4]'), json_extract(latency_buckets, '$[5]'), json_extract(latency_buckets, '$[6]'), json_extract(latency_buckets, '$[7]'), json_extract(latency_buckets, '$[8]'), json_extract(latency_buckets, '$[9]'), json_extract(latency_buckets, '$[10]'), json_extract(latency_buckets, '$[11]'), json_extract(latency_buckets, '$[12]')
    FROM usage_aggregates;
DROP TABLE usage_aggregates;
ALTER TABLE usage_aggregates_columnar RENAME TO usage_aggregates;
"#,
    // 4: billing: the payment provider's ids on plans and subscriptions (JSON), and the
    // invoices mirrored from it.
    r#"
ALTER TABLE plans ADD COLUMN billing TEXT;
ALTER TABLE subscriptions ADD COLUMN billing TEXT NOT NULL DEFAULT '{}';

CREATE TABLE invoices (
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL,
    customer_id         TEXT NOT NULL,
    subscription_id     TEXT,
    number              TEXT,
    status              TEXT NOT NULL,
    status_rank         INTEGER NOT NULL,
    amount_due          INTEGER NOT NULL,
    amount_paid         INTEGER NOT NULL,
    currency            TEXT NOT NULL,
    period_start        INTEGER NOT NULL,
    period_end          INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    hosted_invoice_url  TEXT
) STRICT;
CREATE INDEX invoices_org_created ON invoices(org_id, created_at, id);
CREATE INDEX invoices_created ON invoices(created_at, id);

-- Metered units reported to the payment provider, per organization and period.
CREATE TABLE usage_reports (
    org_id    TEXT NOT NULL,
    period    TEXT NOT NULL,
    reported  INTEGER NOT NULL,
    pending   INTEGER,
    PRIMARY KEY (period, org_id)
) STRICT, WITHOUT ROWID;
"#,
    // 5: projects. Rows from before read as they always did: a key without a project is in
    // its organization's default project, a plan without max_projects allows
    // `Plan::default_max_projects`, a usage log without a source was proxied.
    r#"
-- A deleted project's row is gone (its id stays in deleted_projects); the unique verify
-- secret hash finds a project for `POST /api/v1/verify`.
CREATE TABLE projects (
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL,
    name                TEXT NOT NULL,
    description         TEXT,
    verify_secret_hash  TEXT UNIQUE,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
) STRICT;
CREATE INDEX projects_org ON projects(org_id, created_at);

-- Ids of deleted projects: `ensure_project` never brings one back.
CREATE TABLE deleted_projects (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    deleted_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

ALTER TABLE api_keys ADD COLUMN project_id TEXT;
ALTER TABLE plans ADD COLUMN max_projects INTEGER;

ALTER TABLE usage_logs ADD COLUMN project_id TEXT;
ALTER TABLE usage_logs ADD COLUMN source TEXT NOT NULL DEFAULT 'proxy';
ALTER TABLE usage_logs ADD COLUMN metadata TEXT;
CREATE INDEX usage_logs_org_project_ts ON usage_logs(org_id, project_id, ts, id);
"#,
    // 6: scheduled jobs: one record per run (job, slot), the write-once snapshot of each
    // closed usage period, a stable walk over every subscription, and indexes on the expiry
    // columns the retention pass deletes by (the others have one already).
    r#"
-- A scheduled run claims its (job, slot); a manual run has a slot of its own. `report` is
-- the run's JSON report once finished.
CREATE TABLE job_runs (
    job          TEXT NOT NULL,
    slot         TEXT NOT NULL,
    trigger      TEXT NOT NULL,
    status       TEXT NOT NULL,
    at           INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    report       TEXT,
    error        TEXT,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (job, slot)
) STRICT;
CREATE INDEX job_runs_started ON job_runs(started_at);
CREATE INDEX job_runs_job_started ON job_runs(job, started_at);
CREATE INDEX job_runs_expiry ON job_runs(expires_at);

-- Written once, when the period closes; kept for good (a billing record).
CREATE TABLE usage_snapshots (
    org_id     TEXT NOT NULL,
    period     TEXT NOT NULL,
    plan_id    TEXT NOT NULL,
    counted    INTEGER NOT NULL,
    billable   INTEGER NOT NULL,
    reported   INTEGER NOT NULL,
    closed_at  INTEGER NOT NULL,
    PRIMARY KEY (org_id, period)
) STRICT, WITHOUT ROWID;

-- `subscriptions_page` walks (created_at, id) in order, with or without a plan.
CREATE INDEX subscriptions_created_id ON subscriptions(created_at, id);
CREATE INDEX subscriptions_plan_created_id ON subscriptions(plan_id, created_at, id);

-- The retention pass (`prune_expired`).
CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);
CREATE INDEX action_tokens_expiry ON action_tokens(expires_at);
CREATE INDEX action_tokens_used ON action_tokens(used_at) WHERE used_at IS NOT NULL;
CREATE INDEX idempotency_expiry ON idempotency(expires_at);
"#,
    // 7: customer webhooks: endpoints, and deliveries with their attempts.
    r#"
-- An organization's webhook endpoints. `events` is a JSON array; `secret` is the HMAC key,
-- kept in clear because signing needs it.
CREATE TABLE webhook_endpoints (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL,
    url          TEXT NOT NULL,
    events       TEXT NOT NULL,
    description  TEXT,
    secret       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_endpoints_org ON webhook_endpoints(org_id, created_at);

-- One row per (event, endpoint): the id derives from both. `attempt_log` is a JSON array.
-- Pending rows are found by `next_attempt_at` (the partial index holds only them).
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    endpoint_id      TEXT NOT NULL,
    org_id           TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    body             TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    last_status_code INTEGER,
    last_error       TEXT,
    last_latency_ms  INTEGER,
    next_attempt_at  INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    attempt_log      TEXT NOT NULL
) STRICT;
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, created_at, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at, id) WHERE status = 'pending';
"#,
    // 8: notification settings, one row per organization.
    r#"
-- `email` is a JSON object (event type -> mailed); `slack` the JSON of the Slack settings
-- (its URL is a secret), NULL without Slack. No row: the defaults (every email, no Slack).
CREATE TABLE notification_settings (
    org_id      TEXT PRIMARY KEY,
    email       TEXT NOT NULL,
    slack       TEXT,
    updated_at  INTEGER NOT NULL
) STRICT;
"#,
    // 9: teams: deleted organizations, invitations, the audit log's user agent, and the
    // indexes of the admins' user listing and of the audit filters.
    r#"
-- A deleted organization keeps its row (ids stay unique, history readable) with deleted_at.
ALTER TABLE organizations ADD COLUMN deleted_at INTEGER;

-- An organization's invitations; accepting one sets accepted_at/accepted_by (kept for the
-- record), withdrawing one deletes it. The unique token hash finds one for `accept_invitation`.
CREATE TABLE invitations (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL,
    email        TEXT NOT NULL,
    role         TEXT NOT NULL,
    invited_by   TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    accepted_at  INTEGER,
    accepted_by  TEXT
) STRICT;
CREATE INDEX invitations_org_created ON invitations(org_id, created_at, id);

-- `list_members`, oldest first.
CREATE INDEX memberships_org_created ON memberships(org_id, created_at, user_id);

ALTER TABLE audit_log ADD COLUMN user_agent TEXT;
-- `audit_page` walks (at, id) newest first, by organization, actor or action.
CREATE INDEX audit_log_at_id ON audit_log(at, id);
CREATE INDEX audit_log_org_at_id ON audit_log(org_id, at, id);
CREATE INDEX audit_log_actor_at_id ON audit_log(actor_id, at, id);
CREATE INDEX audit_log_action_at_id ON audit_log(action, at, id);

-- `users_page`: each sort's order, ties by id.
CREATE INDEX users_created_id ON users(created_at, id);
CREATE INDEX users_email_id ON users(email, id);
"#,
    // 10: the revenue ledger: every change of an organization's recurring revenue or plan,
    // written in the same transaction as the subscription (`RevenueChange`).
    r#"
-- `seq` orders rows written at the same millisecond. `plan_before` is NULL for a new
-- subscription.
CREATE TABLE revenue_changes (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id       TEXT NOT NULL,
    at           INTEGER NOT NULL,
    mrr_before   INTEGER NOT NULL,
    mrr_after    INTEGER NOT NULL,
    currency     TEXT NOT NULL,
    plan_before  TEXT,
    plan_after   TEXT NOT NULL
) STRICT;
-- `revenue_changes` by time; `revenue_positions` each organization's latest before a time.
CREATE INDEX revenue_changes_at ON revenue_changes(at, seq);
CREATE INDEX revenue_changes_org_at ON revenue_changes(org_id, at, seq);

-- Subscriptions paying before the ledger existed: one opening row each, as of their last
-- change (the best the store knows of when their current price started).
INSERT INTO revenue_changes (org_id, at, mrr_before, mrr_after, currency, plan_before, plan_after)
SELECT s.org_id, s.updated_at, 0, p.price, p.currency, NULL, s.plan_id
FROM subscriptions s JOIN plans p ON p.id = s.plan_id
WHERE s.status != 'canceled' AND p.price > 0
ORDER BY s.updated_at, s.id;
"#,
    // 11: scopes: endpoint groups, the groups an API key may call, and management tokens.
    r#"
-- An endpoint's group (NULL: callable by every key) and a key's groups as a JSON array of
-- names (NULL: every endpoint).
ALTER TABLE endpoints ADD COLUMN scope TEXT;
ALTER TABLE api_keys ADD COLUMN scopes TEXT;

-- Tokens the operator's own back end presents on /api/admin routes. Only the SHA-256 of the
-- secret is stored; `scopes` is a JSON array of management scopes.
CREATE TABLE management_tokens (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    token_hash     TEXT NOT NULL UNIQUE,
    display_prefix TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER,
    revoked_at     INTEGER,
    last_used_at   INTEGER
) STRICT;
CREATE INDEX management_tokens_created ON management_tokens(created_at, id);
"#,
    // 12: admin two-factor authentication: TOTP enrolments and recovery codes.
    r#"
-- One enrolment per user. `secret` is the base32 TOTP secret in clear: verifying a code needs
-- it (the data directory's protection is its protection). `last_used_step` is the last TOTP
-- step a code was accepted for; codes of it and earlier steps are refused (no replay).
CREATE TABLE mfa_enrollments (
    user_id         TEXT PRIMARY KEY,
    secret          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    confirmed_at    INTEGER,
    last_used_step  INTEGER
) STRICT;

-- The unused recovery codes of a confirmed enrolment, as SHA-256 hashes; using one deletes it.
CREATE TABLE mfa_recovery_codes (
    user_id  TEXT NOT NULL,
    hash     TEXT NOT NULL,
    PRIMARY KEY (user_id, hash)
) STRICT, WITHOUT ROWID;
"#,
    // 13: the daily metrics rollup the admin analytics read instead of the usage logs
    // (tollgate_domain::metrics), backfilled from what the store already keeps.
    r#"
-- Users created per day (day: UTC midnight, ms).
CREATE TABLE daily_signups (
    day    INTEGER PRIMARY KEY,
    count  INTEGER NOT NULL
) STRICT;

-- Each organization's calls per day: a row says the organization was active that day.
CREATE TABLE org_daily_usage (
    day         INTEGER NOT NULL,
    org_id      TEXT NOT NULL,
    calls       INTEGER NOT NULL,
    cost_units  INTEGER NOT NULL,
    PRIMARY KEY (day, org_id)
) STRICT, WITHOUT ROWID;

INSERT INTO daily_signups
    SELECT created_at - created_at % 86400000 AS d, COUNT(*) FROM users GROUP BY d;
INSERT INTO org_daily_usage
    SELECT bucket_start, org_id, SUM(count), SUM(cost_units) FROM usage_aggregates
    WHERE granularity = 'day' GROUP BY bucket_start, org_id;
-- The platform's daily aggregates per endpoint live beside the organizations' under the
-- reserved organization and key id '*'.
INSERT INTO usage_aggregates
    SELECT '*', 'day', bucket_start, '*', endpoint_id, SUM(count), SUM(cost_units), SUM(status_2xx),
           SUM(status_4xx), SUM(status_5xx), SUM(latency_sum_ms), SUM(lb0), SUM(lb1), SUM(lb2), SUM(lb3), SUM(lb4), SUM(lb5), SUM(lb6), SUM(lb7), SUM(lb8), SUM(lb9), SUM(lb10), SUM(lb11), SUM(lb12)
    FROM usage_aggregates WHERE granularity = 'day' GROUP BY bucket_start, endpoint_id;
"#,
];
