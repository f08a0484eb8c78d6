-- A believable history, written in the order it happened: %(conversations)s conversations spread over
-- the %(days)s days before %(until)s (the last one %(last_gap)s seconds before it), each with four
-- messages 2 s apart. After each step a real restore point is written to the WAL, named for the
-- simulated time it stands for (kosmos-YYYYMMDDTHHMMSS.ffffffZ), so that a recovery to it holds exactly
-- the rows with created_at up to that time. A step is one commit (the rows of one instant) when
-- %(step)s is NULL, else a slice of simulated time (an hour at large scales). The procedure lives in
-- this session's temporary schema: nothing of it remains in the database (or in a restore of it).
INSERT INTO agents (id, display_name, created_at)
SELECT a.id, initcap(replace(a.id, '-', ' ')), %(until)s::timestamptz - interval '400 days'
FROM unnest(%(agents)s::text[]) AS a(id);

CREATE TEMP TABLE seed_restore_points (at timestamptz, name text, lsn pg_lsn, real timestamptz);

CREATE PROCEDURE pg_temp.seed_history(agents text[], until timestamptz, n int, days int, last_gap int,
                                      step interval)
LANGUAGE plpgsql AS $seed$
DECLARE
    first_at timestamptz := until - interval '1 day' * days;
    span interval := interval '1 day' * days;
    ts timestamptz;
    cid bigint;
    lo timestamptz;
    hi timestamptz;
    g_lo bigint := 1;
    g_hi bigint;
    id_lo bigint;
    id_hi bigint;
    prev_lo bigint;
    prev_hi bigint;
BEGIN
    -- the history starts here: a restore to this time holds the schema and the agents, no conversation
    INSERT INTO pg_temp.seed_restore_points  -- rides along with the next step's commit
    SELECT p.at, p.name, pg_create_restore_point(p.name), clock_timestamp()
    FROM (SELECT q.at, 'kosmos-' || to_char(q.at AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS.US"Z"') AS name
          FROM (SELECT first_at AS at) q) p;
    IF step IS NULL THEN
        FOR g IN 1..n LOOP
            ts := until - interval '1 second' * last_gap - span * ((n - g)::float8 / n);
            FOR m IN 1..4 LOOP
                IF m = 1 THEN  -- the conversation and its first message share their instant
                    INSERT INTO conversations (agent_id, title, created_at, updated_at)
                    VALUES (agents[1 + (g % cardinality(agents))], 'conversation ' || g, ts, ts) RETURNING id INTO cid;
                END IF;
                INSERT INTO messages (conversation_id, role, body, created_at)
                VALUES (cid, (ARRAY['user', 'agent', 'user', 'agent'])[m], 'message ' || m || ' of conversation ' || g,
                        ts + interval '2 seconds' * (m - 1));
                COMMIT;
                INSERT INTO pg_temp.seed_restore_points  -- rides along with the next step's commit
                SELECT p.at, p.name, pg_create_restore_point(p.name), clock_timestamp()
                FROM (SELECT q.at, 'kosmos-' || to_char(q.at AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS.US"Z"') AS name
                      FROM (SELECT ts + interval '2 seconds' * (m - 1) AS at) q) p;
            END LOOP;
        END LOOP;
    ELSE
        lo := first_at;
        WHILE lo < until LOOP
            hi := least(lo + step, until);
            -- conversations g whose instant lies in (lo, hi]
            g_hi := least(n, floor(n - extract(epoch FROM (until - interval '1 second' * last_gap - hi))
                                   / extract(epoch FROM span) * n)::bigint);
            IF g_hi >= g_lo THEN
                WITH made AS (
                    INSERT INTO conversations (agent_id, title, created_at, updated_at)
                    SELECT agents[1 + (g % cardinality(agents))], 'conversation ' || g, t.ts, t.ts
                    FROM generate_series(g_lo, g_hi) AS g,
                         LATERAL (SELECT until - interval '1 second' * last_gap - span * ((n - g)::float8 / n) AS ts) t
                    ORDER BY g
                    RETURNING id)
                SELECT min(id), max(id) INTO id_lo, id_hi FROM made;
                g_lo := g_hi + 1;
            ELSE
                id_lo := NULL;
                id_hi := NULL;
            END IF;
            -- messages whose instant lies in (lo, hi]: of this slice's conversations and of the previous
            -- one's (a conversation's messages span 6 s and may cross the slice's end)
            INSERT INTO messages (conversation_id, role, body, created_at)
            SELECT c.id, (ARRAY['user', 'agent', 'user', 'agent'])[m], 'message ' || m || ' of ' || c.title,
                   c.created_at + interval '2 seconds' * (m - 1)
            FROM conversations c, generate_series(1, 4) AS m
            WHERE c.id BETWEEN coalesce(prev_lo, id_lo, 0) AND coalesce(id_hi, prev_hi, 0)
              AND c.created_at + interval '2 seconds' * (m - 1) > lo
              AND c.created_at + interval '2 seconds' * (m - 1) <= hi;
            IF id_lo IS NOT NULL THEN
                prev_lo := id_lo;
                prev_hi := id_hi;
            END IF;
            COMMIT;
            INSERT INTO pg_temp.seed_restore_points  -- rides along with the next step's commit
            SELECT p.at, p.name, pg_create_restore_point(p.name), clock_timestamp()
            FROM (SELECT q.at, 'kosmos-' || to_char(q.at AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS.US"Z"') AS name
                  FROM (SELECT hi AS at) q) p;
            lo := hi;
        END LOOP;
    END IF;
END
$seed$;

CALL pg_temp.seed_history(%(agents)s::text[], %(until)s::timestamptz, %(conversations)s, %(days)s, %(last_gap)s,
                          %(step)s::interval);
