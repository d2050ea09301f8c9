-- Secured (SASL_SSL) clusters: each has its own CA and a super-user credential for the
-- control plane; private keys and the password are sealed with the control plane's key.
CREATE TABLE cluster_secrets (
    cluster_id             uuid PRIMARY KEY REFERENCES clusters(id) ON DELETE CASCADE,
    ca_cert_pem            text NOT NULL,
    ca_key_sealed          bytea NOT NULL,
    admin_user             text NOT NULL,
    admin_password_sealed  bytea NOT NULL,
    -- The admin's SCRAM credential in stored form (salt, stored and server keys), as
    -- brokers are given it: deterministic, so a broker's config does not change.
    admin_credential       jsonb NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now()
);

-- A broker of a secured cluster: its certificate and sealed key, issued once.
ALTER TABLE brokers ADD COLUMN tls_cert_pem text, ADD COLUMN tls_key_sealed bytea;

-- Kafka users of a secured cluster or of a tenant's allocation on a shared one.
CREATE TABLE kafka_users (
    id          uuid PRIMARY KEY,
    cluster_id  uuid NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    name        text NOT NULL,
    username    text NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (cluster_id, name)
);
