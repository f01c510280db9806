CREATE TABLE image_images (
    id TEXT PRIMARY KEY,
    name TEXT,
    disk_format TEXT,
    container_format TEXT,
    size BIGINT,
    virtual_size BIGINT,
    status TEXT NOT NULL,
    checksum TEXT,
    os_hash_algo TEXT,
    os_hash_value TEXT,
    owner TEXT,
    visibility TEXT NOT NULL,
    protected BIGINT NOT NULL DEFAULT 0,
    os_hidden BIGINT NOT NULL DEFAULT 0,
    min_ram BIGINT NOT NULL DEFAULT 0,
    min_disk BIGINT NOT NULL DEFAULT 0,
    -- Where the store keeps the data (a store-specific key), once active.
    location TEXT,
    -- Set while an upload runs: who holds it and until when (RFC 3339); an
    -- upload whose lease ran out was cut off and is rolled back to queued.
    upload_lease_until TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    deleted_at TEXT
);
CREATE INDEX image_images_owner ON image_images(owner);
CREATE INDEX image_images_created ON image_images(created_at, id);

CREATE TABLE image_properties (
    image_id TEXT NOT NULL REFERENCES image_images(id),
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (image_id, name)
);

CREATE TABLE image_tags (
    image_id TEXT NOT NULL REFERENCES image_images(id),
    value TEXT NOT NULL,
    PRIMARY KEY (image_id, value)
);

CREATE TABLE image_members (
    image_id TEXT NOT NULL REFERENCES image_images(id),
    member TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (image_id, member)
);
CREATE INDEX image_members_member ON image_members(member);
