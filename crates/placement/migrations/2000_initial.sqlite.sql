CREATE TABLE placement_resource_providers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    generation BIGINT NOT NULL DEFAULT 0,
    root_provider_id BIGINT,
    parent_provider_id BIGINT REFERENCES placement_resource_providers(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX placement_rp_root ON placement_resource_providers(root_provider_id);
CREATE INDEX placement_rp_parent ON placement_resource_providers(parent_provider_id);

CREATE TABLE placement_resource_classes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- Custom classes are numbered from 10000; standard ones are known by code.
INSERT INTO sqlite_sequence (name, seq) VALUES ('placement_resource_classes', 9999);

CREATE TABLE placement_inventories (
    resource_provider_id BIGINT NOT NULL REFERENCES placement_resource_providers(id),
    resource_class_id BIGINT NOT NULL,
    total BIGINT NOT NULL,
    reserved BIGINT NOT NULL,
    min_unit BIGINT NOT NULL,
    max_unit BIGINT NOT NULL,
    step_size BIGINT NOT NULL,
    allocation_ratio DOUBLE PRECISION NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (resource_provider_id, resource_class_id)
);
CREATE INDEX placement_inv_class ON placement_inventories(resource_class_id);

CREATE TABLE placement_consumer_types (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE placement_consumers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    generation BIGINT NOT NULL DEFAULT 0,
    consumer_type_id BIGINT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX placement_consumers_project_user ON placement_consumers(project_id, user_id);

CREATE TABLE placement_allocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    resource_provider_id BIGINT NOT NULL REFERENCES placement_resource_providers(id),
    consumer_id TEXT NOT NULL,
    resource_class_id BIGINT NOT NULL,
    used BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX placement_alloc_rp_class ON placement_allocations(resource_provider_id, resource_class_id);
CREATE INDEX placement_alloc_consumer ON placement_allocations(consumer_id);
CREATE INDEX placement_alloc_class ON placement_allocations(resource_class_id);

CREATE TABLE placement_traits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE placement_provider_traits (
    resource_provider_id BIGINT NOT NULL REFERENCES placement_resource_providers(id),
    trait_id BIGINT NOT NULL REFERENCES placement_traits(id),
    PRIMARY KEY (resource_provider_id, trait_id)
);
CREATE INDEX placement_rpt_trait ON placement_provider_traits(trait_id);

CREATE TABLE placement_provider_aggregates (
    resource_provider_id BIGINT NOT NULL REFERENCES placement_resource_providers(id),
    aggregate_uuid TEXT NOT NULL,
    PRIMARY KEY (resource_provider_id, aggregate_uuid)
);
CREATE INDEX placement_rpa_agg ON placement_provider_aggregates(aggregate_uuid);

-- Change feed for the in-memory provider snapshots every controller keeps:
-- each write that changes a provider's tree, inventory, usage, traits or
-- aggregates bumps `seq` (one row, so writers commit in seq order) and logs
-- the providers it touched.
CREATE TABLE placement_state (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    pruned_below BIGINT NOT NULL
);
INSERT INTO placement_state (id, seq, pruned_below) VALUES (1, 0, 0);

CREATE TABLE placement_changes (
    seq BIGINT NOT NULL,
    resource_provider_id BIGINT NOT NULL
);
CREATE INDEX placement_changes_seq ON placement_changes(seq);
