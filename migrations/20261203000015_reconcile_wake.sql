-- Writes that change what the reconciler must do wake it at once (LISTEN
-- tideway_reconcile) instead of at its next tick: a cluster requested, changed, approved
-- or deleted, and a host registered. Status writes (phase, conditions) do not wake it,
-- so its own writes never loop.
CREATE FUNCTION notify_reconcile() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tideway_reconcile', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER clusters_wake_reconciler
    AFTER INSERT OR DELETE OR UPDATE OF spec, generation, approval_state ON clusters
    FOR EACH STATEMENT EXECUTE FUNCTION notify_reconcile();

CREATE TRIGGER hosts_wake_reconciler
    AFTER INSERT ON hosts
    FOR EACH STATEMENT EXECUTE FUNCTION notify_reconcile();
