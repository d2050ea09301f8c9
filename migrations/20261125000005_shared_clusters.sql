-- Shared clusters: a platform admin's shared cluster (kind 'shared' with brokers) hosts
-- tenants' allocations (kind 'shared' without brokers), each with a topic prefix.
ALTER TABLE clusters
    ADD COLUMN shared_host_id uuid REFERENCES clusters(id) ON DELETE RESTRICT,
    ADD COLUMN topic_prefix text;
