-- Brokers of a secured multi-broker cluster replicate on a port of their own (mutual
-- TLS between brokers), beside the clients' SASL_SSL port.
ALTER TABLE brokers ADD COLUMN replication_port integer
    CHECK (replication_port IS NULL OR (replication_port > 0 AND replication_port < 65536));
CREATE UNIQUE INDEX brokers_host_replication_port ON brokers (host_id, replication_port)
    WHERE replication_port IS NOT NULL;
