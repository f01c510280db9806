CREATE TABLE workflow_runs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    outputs TEXT NOT NULL,
    state TEXT NOT NULL,
    step BIGINT NOT NULL,
    error TEXT,
    lease_owner TEXT NOT NULL,
    lease_until BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX workflow_runs_active ON workflow_runs (state, lease_until);
