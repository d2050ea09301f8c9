-- Brokers of multi-broker clusters run the engine's cluster mode: each also listens on a
-- controller port of its host for the metadata quorum. Single brokers have none.
ALTER TABLE brokers ADD COLUMN controller_port integer
    CHECK (controller_port IS NULL OR (controller_port > 0 AND controller_port < 65536));
CREATE UNIQUE INDEX brokers_host_controller_port ON brokers (host_id, controller_port)
    WHERE controller_port IS NOT NULL;
