CREATE TABLE compute_services (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    host TEXT NOT NULL,
    service_binary TEXT NOT NULL,
    topic TEXT NOT NULL,
    agent TEXT,
    disabled BIGINT NOT NULL,
    disabled_reason TEXT,
    forced_down BIGINT NOT NULL,
    last_seen_up TEXT,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT,
    UNIQUE (host, service_binary)
);
CREATE TABLE compute_nodes (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    service_id BIGINT NOT NULL REFERENCES compute_services (id),
    host TEXT NOT NULL,
    hypervisor_hostname TEXT NOT NULL UNIQUE,
    hypervisor_type TEXT NOT NULL,
    hypervisor_version BIGINT NOT NULL,
    vcpus BIGINT NOT NULL,
    memory_mb BIGINT NOT NULL,
    local_gb BIGINT NOT NULL,
    cpu_info TEXT NOT NULL,
    host_ip TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT
);
CREATE TABLE compute_agent_commands (
    seq BIGSERIAL PRIMARY KEY,
    agent TEXT NOT NULL,
    host TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    result TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT
);
CREATE INDEX compute_agent_commands_pending ON compute_agent_commands (agent, state, seq);
