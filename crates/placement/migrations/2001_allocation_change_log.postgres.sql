-- Every allocation written or removed logs its provider under the sequence
-- number of the writing transaction (each Placement write bumps
-- placement_state first), so the in-memory snapshots of every controller
-- see the usage change without a separate statement per write.
CREATE FUNCTION placement_alloc_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO placement_changes (seq, resource_provider_id)
        SELECT seq, OLD.resource_provider_id FROM placement_state WHERE id = 1;
    ELSE
        INSERT INTO placement_changes (seq, resource_provider_id)
        SELECT seq, NEW.resource_provider_id FROM placement_state WHERE id = 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER placement_alloc_log AFTER INSERT OR DELETE ON placement_allocations
FOR EACH ROW EXECUTE FUNCTION placement_alloc_log();
