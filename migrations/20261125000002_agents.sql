-- Agents: tokens issued by platform admins, and what a registered host reports.

CREATE TABLE agent_tokens (
    id            uuid PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    last_used_at  timestamptz
);

ALTER TABLE hosts
    ADD COLUMN agent_token_id       uuid REFERENCES agent_tokens(id),
    ADD COLUMN agent_version        text,
    -- {"cpus": n, "memory_bytes": n}
    ADD COLUMN capacity             jsonb NOT NULL DEFAULT '{}',
    -- [{"backend": "local-ssd", "total_bytes": n, "free_bytes": n}, ...]
    ADD COLUMN storage              jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN port_first           integer,
    ADD COLUMN port_last            integer,
    -- desired state of the host's brokers; bumped whenever an assignment changes
    ADD COLUMN generation           bigint NOT NULL DEFAULT 1,
    ADD COLUMN observed_generation  bigint,
    ADD CONSTRAINT hosts_port_range CHECK (port_first IS NULL OR (port_first > 0 AND port_last >= port_first AND port_last < 65536));
