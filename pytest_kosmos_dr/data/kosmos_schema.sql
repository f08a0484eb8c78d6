-- The KOSMOS application schema, as far as disaster recovery needs it: every table carries a
-- write timestamp (the RPO is measured from them) and the relations are foreign keys.
CREATE TABLE agents (
    id          text PRIMARY KEY,
    display_name text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE conversations (
    id          bigserial PRIMARY KEY,
    agent_id    text NOT NULL REFERENCES agents(id),
    title       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_created_at_idx ON conversations (created_at);
CREATE INDEX conversations_updated_at_idx ON conversations (updated_at);

CREATE TABLE messages (
    id              bigserial PRIMARY KEY,
    conversation_id bigint NOT NULL REFERENCES conversations(id),
    role            text NOT NULL CHECK (role IN ('user', 'agent', 'system')),
    body            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_created_at_idx ON messages (created_at);
CREATE INDEX messages_conversation_id_idx ON messages (conversation_id);
