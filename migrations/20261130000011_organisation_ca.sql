-- A cluster signed by the organisation CA stores its certificate but not its key (the
-- control plane is given the key in its configuration).
ALTER TABLE cluster_secrets ALTER COLUMN ca_key_sealed DROP NOT NULL;
