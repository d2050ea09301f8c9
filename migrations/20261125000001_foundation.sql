-- Tideway foundation schema: tenancy, users and roles, tokens and sessions, quotas,
-- cluster requests (spec + generation, approval, status + observed generation), hosts,
-- and the audit log.

CREATE TABLE tenants (
    id            uuid PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9-]{1,38}[a-z0-9]$'),
    display_name  text NOT NULL,
    auto_approve  boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per tenant; locked FOR UPDATE by every quota-consuming transaction so two
-- concurrent requests cannot both squeeze under the limit.
CREATE TABLE tenant_quotas (
    tenant_id                  uuid PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    max_clusters               bigint NOT NULL CHECK (max_clusters >= 0),
    max_brokers                bigint NOT NULL CHECK (max_brokers >= 0),
    max_storage_bytes          bigint NOT NULL CHECK (max_storage_bytes >= 0),
    max_partitions             bigint NOT NULL CHECK (max_partitions >= 0),
    max_produce_bytes_per_sec  bigint NOT NULL CHECK (max_produce_bytes_per_sec >= 0),
    max_consume_bytes_per_sec  bigint NOT NULL CHECK (max_consume_bytes_per_sec >= 0),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id              uuid PRIMARY KEY,
    username        text NOT NULL UNIQUE,
    display_name    text NOT NULL,
    email           text,
    source          text NOT NULL CHECK (source IN ('local', 'ldap')),
    -- argon2 PHC string; NULL for directory users.
    password_hash   text,
    platform_admin  boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_login_at   timestamptz
);

CREATE TABLE memberships (
    user_id         uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id       uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('viewer', 'member', 'tenant-admin')),
    -- true when a directory group grants it; rewritten at each directory login.
    from_directory  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (user_id, tenant_id)
);
CREATE INDEX memberships_tenant ON memberships (tenant_id);

-- Browser and API sessions (JWT id); a revoked or expired row rejects the JWT.
CREATE TABLE sessions (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);

-- API tokens are JWTs whose id is the row id; the secret itself is never stored.
CREATE TABLE api_tokens (
    id            uuid PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    tenant_id     uuid REFERENCES tenants(id) ON DELETE CASCADE,
    role          text NOT NULL CHECK (role IN ('viewer', 'member', 'tenant-admin', 'platform-admin')),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    CHECK ((tenant_id IS NULL) = (role = 'platform-admin'))
);
CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id);

-- A cluster request and, once approved, the cluster. Desired state (spec, generation)
-- and observed state (status, observed_generation) are kept apart.
CREATE TABLE clusters (
    id                   uuid PRIMARY KEY,
    tenant_id            uuid NOT NULL REFERENCES tenants(id) ON DELETE RESTRICT,
    name                 text NOT NULL,
    kind                 text NOT NULL CHECK (kind IN ('dedicated', 'shared')),
    spec                 jsonb NOT NULL,
    generation           bigint NOT NULL DEFAULT 1 CHECK (generation >= 1),
    -- what the spec counts against the quota, kept beside it for cheap sums
    broker_count         bigint NOT NULL CHECK (broker_count >= 0),
    storage_bytes        bigint NOT NULL CHECK (storage_bytes >= 0),
    approval_state       text NOT NULL CHECK (approval_state IN ('pending', 'approved', 'rejected')),
    approval_reason      text,
    decided_by           text,
    decided_at           timestamptz,
    phase                text NOT NULL,
    conditions           jsonb NOT NULL DEFAULT '[]',
    observed_generation  bigint,
    requested_by         text NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
CREATE INDEX clusters_approval ON clusters (approval_state, created_at);

-- Filled by agents (see the agents issue); read-only in the API for now.
CREATE TABLE hosts (
    id                uuid PRIMARY KEY,
    name              text NOT NULL UNIQUE,
    address           text NOT NULL,
    hardware_profile  text NOT NULL CHECK (hardware_profile IN ('physical', 'virtual')),
    labels            jsonb NOT NULL DEFAULT '{}',
    last_seen_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text NOT NULL,
    action       text NOT NULL,
    tenant_id    uuid,
    target_type  text NOT NULL,
    target_id    text NOT NULL,
    before       jsonb,
    after        jsonb,
    request_id   text
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id DESC);
CREATE INDEX audit_log_target ON audit_log (target_id);
