CREATE TABLE compute_agent_seq (id BIGINT PRIMARY KEY, seq BIGINT NOT NULL);
INSERT INTO compute_agent_seq (id, seq) SELECT 1, COALESCE(MAX(seq), 0) FROM compute_agent_commands;
