-- Monitoring: samples taken by the control plane at a fixed interval (1 minute by
-- default) and pruned after the retention (14 days by default), and alerts.

-- Each broker's cumulative counters and disk use as its agent last reported them.
CREATE TABLE broker_samples (
    cluster_id      uuid NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    node_id         integer NOT NULL,
    at              timestamptz NOT NULL,
    healthy         boolean NOT NULL,
    bytes_in        bigint,
    bytes_out       bigint,
    disk_used_bytes bigint,
    PRIMARY KEY (cluster_id, at, node_id)
);
CREATE INDEX broker_samples_at ON broker_samples (at);

-- Every topic's messages ever written (the sum of its partitions' end offsets) on the
-- cluster serving it: one row per cluster and pass, the topics in parallel arrays (a row
-- per topic would cost far more in row headers and index entries; see bench/lag).
CREATE TABLE topic_samples (
    cluster_id  uuid NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    topics      text[] NOT NULL,
    end_offsets bigint[] NOT NULL,
    PRIMARY KEY (cluster_id, at)
);
CREATE INDEX topic_samples_at ON topic_samples (at);

-- A consumer group's position in each partition it committed to: one row per group and
-- pass, the partitions in parallel arrays. committed_at is when the control plane first
-- saw that committed offset (Kafka does not tell when a group committed); next_record_at
-- is the timestamp of the record at the committed offset (NULL when unknown).
CREATE TABLE lag_samples (
    cluster_id     uuid NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    group_id       text NOT NULL,
    at             timestamptz NOT NULL,
    topics         text[] NOT NULL,
    partitions     integer[] NOT NULL,
    committed      bigint[] NOT NULL,
    committed_at   timestamptz[] NOT NULL,
    end_offsets    bigint[] NOT NULL,
    next_record_at timestamptz[] NOT NULL,
    PRIMARY KEY (cluster_id, group_id, at)
);
CREATE INDEX lag_samples_at ON lag_samples (at);

-- Host metrics sent with heartbeats.
CREATE TABLE host_samples (
    host_id           uuid NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    at                timestamptz NOT NULL,
    cpu_percent       real NOT NULL,
    memory_used_bytes bigint NOT NULL,
    memory_total_bytes bigint NOT NULL,
    volumes           jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (host_id, at)
);
CREATE INDEX host_samples_at ON host_samples (at);

ALTER TABLE hosts ADD COLUMN metrics jsonb;
ALTER TABLE broker_status ADD COLUMN metrics_port integer;

-- Alert rules: a platform default per rule (tenant_id NULL) and per-tenant overrides.
CREATE TABLE alert_rules (
    id         bigserial PRIMARY KEY,
    tenant_id  uuid REFERENCES tenants(id) ON DELETE CASCADE,
    rule       text NOT NULL,
    enabled    boolean NOT NULL,
    threshold  double precision NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX alert_rules_default ON alert_rules (rule) WHERE tenant_id IS NULL;
CREATE UNIQUE INDEX alert_rules_tenant ON alert_rules (tenant_id, rule) WHERE tenant_id IS NOT NULL;

-- An alert fires for a subject (a host, a broker, a group...) and later resolves.
CREATE TABLE alerts (
    id          uuid PRIMARY KEY,
    rule        text NOT NULL,
    subject     text NOT NULL,
    tenant_id   uuid REFERENCES tenants(id) ON DELETE CASCADE,
    cluster_id  uuid REFERENCES clusters(id) ON DELETE CASCADE,
    severity    text NOT NULL,
    message     text NOT NULL,
    state       text NOT NULL CHECK (state IN ('firing', 'resolved')),
    fired_at    timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz
);
CREATE UNIQUE INDEX alerts_firing ON alerts (rule, subject) WHERE state = 'firing';
CREATE INDEX alerts_recent ON alerts (fired_at DESC);

-- A tenant's own webhook for its alerts (its secret sealed like other secrets).
CREATE TABLE tenant_alert_webhooks (
    tenant_id     uuid PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    url           text NOT NULL,
    secret_sealed bytea,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Webhook deliveries of alert transitions, retried with backoff until delivered or
-- given up: to the platform's webhook (tenant_id NULL) or to a tenant's.
CREATE TABLE alert_notifications (
    id              bigserial PRIMARY KEY,
    alert_id        uuid NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    tenant_id       uuid REFERENCES tenants(id) ON DELETE CASCADE,
    payload         jsonb NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    failed_at       timestamptz,
    last_error      text
);
CREATE INDEX alert_notifications_due ON alert_notifications (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
