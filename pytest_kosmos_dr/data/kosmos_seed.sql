-- A believable history: %(conversations)s conversations spread over the %(days)s days before
-- %(until)s (the last one %(last_gap)s seconds before it), each with four messages 2 s apart.
INSERT INTO agents (id, display_name, created_at)
SELECT a.id, initcap(replace(a.id, '-', ' ')), %(until)s::timestamptz - interval '400 days'
FROM unnest(%(agents)s::text[]) AS a(id);

INSERT INTO conversations (agent_id, title, created_at, updated_at)
SELECT (%(agents)s::text[])[1 + (g %% cardinality(%(agents)s::text[]))],
       'conversation ' || g,
       ts, ts
FROM generate_series(1, %(conversations)s) AS g,
     LATERAL (SELECT %(until)s::timestamptz - interval '1 second' * %(last_gap)s
                     - (interval '1 day' * %(days)s) * ((%(conversations)s - g)::float8 / %(conversations)s) AS ts) AS t;

INSERT INTO messages (conversation_id, role, body, created_at)
SELECT c.id, (ARRAY['user', 'agent', 'user', 'agent'])[m], 'message ' || m || ' of ' || c.title,
       c.created_at + interval '2 seconds' * (m - 1)
FROM conversations c, generate_series(1, 4) AS m;
