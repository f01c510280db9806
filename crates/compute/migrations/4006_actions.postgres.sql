ALTER TABLE compute_instances ADD COLUMN locked_by TEXT;
ALTER TABLE compute_instances ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE compute_instances ADD COLUMN system_metadata TEXT NOT NULL DEFAULT '{}';
ALTER TABLE compute_instances ADD COLUMN old_flavor TEXT;
ALTER TABLE compute_instances ADD COLUMN new_flavor TEXT;
CREATE TABLE compute_instance_actions (
    instance_uuid TEXT NOT NULL,
    request_id TEXT NOT NULL,
    action TEXT NOT NULL,
    user_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    start_time TEXT NOT NULL,
    finish_time TEXT,
    message TEXT,
    updated_at TEXT NOT NULL,
    events TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (instance_uuid, request_id)
);
CREATE INDEX compute_instance_actions_start ON compute_instance_actions (instance_uuid, start_time);
CREATE TABLE compute_migrations (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    instance_uuid TEXT NOT NULL,
    migration_type TEXT NOT NULL,
    status TEXT NOT NULL,
    source_compute TEXT,
    source_node TEXT,
    dest_compute TEXT,
    dest_node TEXT,
    old_flavor TEXT NOT NULL,
    new_flavor TEXT NOT NULL,
    user_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT
);
CREATE INDEX compute_migrations_instance ON compute_migrations (instance_uuid);
CREATE TABLE compute_server_groups (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    policy TEXT NOT NULL,
    rules TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE compute_server_group_members (
    group_uuid TEXT NOT NULL,
    instance_uuid TEXT NOT NULL,
    PRIMARY KEY (group_uuid, instance_uuid)
);
CREATE INDEX compute_server_group_members_instance ON compute_server_group_members (instance_uuid);
CREATE TABLE compute_aggregates (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT
);
CREATE TABLE compute_aggregate_hosts (
    aggregate_id BIGINT NOT NULL,
    host TEXT NOT NULL,
    PRIMARY KEY (aggregate_id, host)
);
CREATE TABLE compute_aggregate_metadata (
    aggregate_id BIGINT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (aggregate_id, key)
);
CREATE TABLE compute_quotas (
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_id, resource)
);
CREATE TABLE compute_quota_classes (
    class_name TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (class_name, resource)
);
