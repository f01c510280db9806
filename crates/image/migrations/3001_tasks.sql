-- Glance's tasks: one row per image import. The row is also the import's
-- durable record: a controller that dies mid-way leaves a task in pending or
-- processing whose lease runs out, and another run resumes it from the start
-- (every step can be repeated) until `attempts` is used up.
CREATE TABLE image_tasks (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    owner TEXT,
    input TEXT,
    result TEXT,
    message TEXT NOT NULL DEFAULT '',
    image_id TEXT,
    request_id TEXT,
    user_id TEXT,
    expires_at TEXT,
    lease_until TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX image_tasks_image ON image_tasks(image_id);
CREATE INDEX image_tasks_status ON image_tasks(status);
