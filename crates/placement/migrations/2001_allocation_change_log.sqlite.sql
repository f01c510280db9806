-- Every allocation written or removed logs its provider under the sequence
-- number of the writing transaction (each Placement write bumps
-- placement_state first), so the in-memory snapshots of every controller
-- see the usage change without a separate statement per write.
CREATE TRIGGER placement_alloc_insert_log AFTER INSERT ON placement_allocations
BEGIN
    INSERT INTO placement_changes (seq, resource_provider_id)
    SELECT seq, NEW.resource_provider_id FROM placement_state WHERE id = 1;
END;

CREATE TRIGGER placement_alloc_delete_log AFTER DELETE ON placement_allocations
BEGIN
    INSERT INTO placement_changes (seq, resource_provider_id)
    SELECT seq, OLD.resource_provider_id FROM placement_state WHERE id = 1;
END;
