CREATE TABLE identity_project (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    enabled BIGINT NOT NULL DEFAULT 1,
    parent_id TEXT,
    is_domain BIGINT NOT NULL DEFAULT 0,
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (domain_id, name)
);
CREATE INDEX identity_project_parent ON identity_project (parent_id);
CREATE TABLE identity_project_tag (
    project_id TEXT NOT NULL REFERENCES identity_project (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    PRIMARY KEY (project_id, name)
);
CREATE TABLE identity_user (
    id TEXT PRIMARY KEY,
    domain_id TEXT NOT NULL,
    name TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    default_project_id TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    options TEXT NOT NULL DEFAULT '{}',
    password_hash TEXT,
    password_created_at BIGINT,
    password_expires_at BIGINT,
    failed_auth_count BIGINT NOT NULL DEFAULT 0,
    failed_auth_at BIGINT,
    created_at BIGINT NOT NULL,
    last_active_at BIGINT,
    UNIQUE (domain_id, name)
);
CREATE TABLE identity_password_history (
    user_id TEXT NOT NULL REFERENCES identity_user (id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX identity_password_history_user ON identity_password_history (user_id);
CREATE TABLE identity_group (
    id TEXT PRIMARY KEY,
    domain_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (domain_id, name)
);
CREATE TABLE identity_user_group (
    user_id TEXT NOT NULL REFERENCES identity_user (id) ON DELETE CASCADE,
    group_id TEXT NOT NULL REFERENCES identity_group (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX identity_user_group_group ON identity_user_group (group_id);
CREATE TABLE identity_role (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    options TEXT NOT NULL DEFAULT '{}',
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (name, domain_id)
);
CREATE TABLE identity_implied_role (
    prior_role_id TEXT NOT NULL REFERENCES identity_role (id) ON DELETE CASCADE,
    implied_role_id TEXT NOT NULL REFERENCES identity_role (id) ON DELETE CASCADE,
    PRIMARY KEY (prior_role_id, implied_role_id)
);
CREATE TABLE identity_assignment (
    type TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    target_id TEXT NOT NULL,
    role_id TEXT NOT NULL REFERENCES identity_role (id) ON DELETE CASCADE,
    inherited BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (type, actor_id, target_id, role_id, inherited)
);
CREATE INDEX identity_assignment_actor ON identity_assignment (actor_id);
CREATE INDEX identity_assignment_target ON identity_assignment (target_id);
CREATE TABLE identity_region (
    id TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    parent_region_id TEXT,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE identity_service (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE identity_endpoint (
    id TEXT PRIMARY KEY,
    interface TEXT NOT NULL,
    service_id TEXT NOT NULL REFERENCES identity_service (id),
    url TEXT NOT NULL,
    region_id TEXT REFERENCES identity_region (id),
    enabled BIGINT NOT NULL DEFAULT 1,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE identity_application_credential (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    user_id TEXT NOT NULL,
    project_id TEXT,
    system TEXT,
    secret_hash TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    expires_at BIGINT,
    unrestricted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, name)
);
CREATE TABLE identity_application_credential_role (
    application_credential_id TEXT NOT NULL REFERENCES identity_application_credential (id) ON DELETE CASCADE,
    role_id TEXT NOT NULL,
    PRIMARY KEY (application_credential_id, role_id)
);
CREATE TABLE identity_access_rule (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    service TEXT NOT NULL,
    path TEXT NOT NULL,
    method TEXT NOT NULL,
    UNIQUE (user_id, service, path, method)
);
CREATE TABLE identity_application_credential_access_rule (
    application_credential_id TEXT NOT NULL REFERENCES identity_application_credential (id) ON DELETE CASCADE,
    access_rule_id TEXT NOT NULL REFERENCES identity_access_rule (id),
    PRIMARY KEY (application_credential_id, access_rule_id)
);
CREATE TABLE identity_credential (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    project_id TEXT,
    type TEXT NOT NULL,
    blob TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE identity_registered_limit (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL,
    region_id TEXT,
    resource_name TEXT NOT NULL,
    default_limit BIGINT NOT NULL,
    description TEXT NOT NULL DEFAULT ''
);
CREATE TABLE identity_limit (
    id TEXT PRIMARY KEY,
    project_id TEXT,
    domain_id TEXT,
    service_id TEXT NOT NULL,
    region_id TEXT,
    resource_name TEXT NOT NULL,
    resource_limit BIGINT NOT NULL,
    description TEXT NOT NULL DEFAULT ''
);
CREATE TABLE identity_revocation_event (
    id TEXT PRIMARY KEY,
    domain_id TEXT,
    project_id TEXT,
    user_id TEXT,
    role_id TEXT,
    consumer_id TEXT,
    audit_id TEXT,
    issued_before BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX identity_revocation_event_revoked_at ON identity_revocation_event (revoked_at);
