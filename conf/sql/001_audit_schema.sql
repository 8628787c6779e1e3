-- Octopus Guard audit schema, migration 001 (idempotent: safe to re-run).
--
--   psql -v ON_ERROR_STOP=1 -d octopus -f conf/sql/001_audit_schema.sql
--
-- audit.api_calls is partitioned by time: a TimescaleDB hypertable with a
-- retention policy when the extension can be created, native daily range
-- partitions otherwise (audit.create_partitions() creates them ahead,
-- audit.drop_partitions() applies the retention, also to the checkpoints;
-- run both daily, e.g. from cron or pg_cron).  Primary key (chain_id, seq,
-- ts): every record has its place in its hash chain, so a record replayed
-- twice is refused by the key (the writer COPYs a batch straight into the
-- table, and sends a batch the key refused again through a staging table
-- with INSERT ... ON CONFLICT DO NOTHING).
--
-- The indexes are what a COPY pays for, per row, on top of the row itself
-- (about 2.5 us of server CPU): the primary key grows at its right edge
-- within each chain and costs about 0.6 us; api_calls_user_ts about 0.6 us
-- while few users make the traffic, up to 2.5 us with thousands of them
-- (its inserts land on random pages: drop it where nobody looks records
-- up by user), nothing for records without a user (not indexed);
-- api_calls_event_ts only holds security events.  Text keys
-- are in the "C" collation: bytes compared, no locale.  (A hash index on
-- user_name costs less with many users but walks its whole overflow chain
-- per insert when one user makes most of the traffic: not used.)  Run
-- against a database made by an earlier version of this file, it moves
-- the primary key in place (version 2 in audit.schema_migrations).
--
-- Roles: octopus_app may only INSERT (append-only: no UPDATE, DELETE,
-- TRUNCATE); octopus_readonly may only SELECT.  Set their passwords with
-- ALTER ROLE ... PASSWORD.

BEGIN;

CREATE SCHEMA IF NOT EXISTS audit;

CREATE TABLE IF NOT EXISTS audit.schema_migrations (
    version     integer PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

DO $mig$
DECLARE
    cols text := $cols$
        ts                timestamptz NOT NULL,
        request_id        text        NOT NULL,
        node              text,
        client            text,
        user_name         text        COLLATE "C",
        role              text,
        auth_method       text,
        api_key_id        text,
        method            text,
        host              text,
        path              text,
        query             text,
        status            integer,
        bytes_sent        bigint,
        request_length    bigint,
        request_time_ms   bigint,
        upstream_status   text,
        upstream_time     text,
        user_agent        text,
        auth_result       text,
        ratelimit_result  text,
        event_type        text        NOT NULL,
        chain_id          text        COLLATE "C" NOT NULL,
        seq               bigint      NOT NULL,
        prev_hash         text        NOT NULL,
        hash              text        NOT NULL,
        PRIMARY KEY (chain_id, seq, ts)
    $cols$;
    hyper boolean := false;
BEGIN
    IF to_regclass('audit.api_calls') IS NOT NULL THEN
        RETURN;
    END IF;

    IF EXISTS (SELECT 1 FROM pg_available_extensions
               WHERE name = 'timescaledb')
    THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS timescaledb;
            hyper := true;
        EXCEPTION WHEN others THEN
            RAISE NOTICE 'timescaledb not usable (%), native partitions',
                         SQLERRM;
        END;
    END IF;

    IF hyper THEN
        EXECUTE 'CREATE TABLE audit.api_calls (' || cols || ')';
        PERFORM create_hypertable('audit.api_calls', 'ts',
                                  chunk_time_interval => interval '1 day');
        PERFORM add_retention_policy('audit.api_calls', interval '90 days');
    ELSE
        EXECUTE 'CREATE TABLE audit.api_calls (' || cols
                || ') PARTITION BY RANGE (ts)';
        -- catches what falls outside the partitions created ahead
        CREATE TABLE audit.api_calls_default
            PARTITION OF audit.api_calls DEFAULT;
    END IF;
END
$mig$;

-- chain checkpoints stored by the writer with its batches (at most one per
-- chain and checkpoint interval): with them the verify tool sees a cut-off
-- tail from the database alone
CREATE TABLE IF NOT EXISTS audit.api_calls_checkpoints (
    chain_id  text        NOT NULL,
    seq       bigint      NOT NULL,
    hash      text        NOT NULL,
    ts        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain_id, seq)
);

-- version 1 keyed the table on (ts, request_id), with a B-tree on
-- (chain_id, seq): the key moves to (chain_id, seq, ts), which serves both

DO $v2$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_constraint c
               WHERE c.conrelid = 'audit.api_calls'::regclass
                 AND c.contype = 'p'
                 AND pg_get_constraintdef(c.oid)
                     = 'PRIMARY KEY (ts, request_id)')
    THEN
        ALTER TABLE audit.api_calls DROP CONSTRAINT api_calls_pkey;
        ALTER TABLE audit.api_calls ADD PRIMARY KEY (chain_id, seq, ts);
    END IF;

    DROP INDEX IF EXISTS audit.api_calls_chain_seq;
END
$v2$;

-- requests without a user (anonymous, health checks) are not indexed: a
-- lookup "user_name = ..." implies "user_name IS NOT NULL"
CREATE INDEX IF NOT EXISTS api_calls_user_ts
    ON audit.api_calls (user_name, ts) WHERE user_name IS NOT NULL;
CREATE INDEX IF NOT EXISTS api_calls_event_ts
    ON audit.api_calls (event_type, ts) WHERE event_type <> 'api_call';


-- native partitions: one per UTC day, days_ahead days ahead

CREATE OR REPLACE FUNCTION audit.create_partitions(days_ahead integer
                                                   DEFAULT 7)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
    d        date;
    created  integer := 0;
    name     text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_partitioned_table
                   WHERE partrelid = 'audit.api_calls'::regclass)
    THEN
        RETURN 0;    -- a hypertable: TimescaleDB makes its chunks
    END IF;

    FOR i IN 0 .. days_ahead LOOP
        d := (now() AT TIME ZONE 'UTC')::date + i;
        name := 'api_calls_' || to_char(d, 'YYYYMMDD');

        IF to_regclass('audit.' || name) IS NULL THEN
            EXECUTE format('CREATE TABLE audit.%I PARTITION OF audit.api_calls '
                           'FOR VALUES FROM (%L) TO (%L)', name,
                           (d::timestamp AT TIME ZONE 'UTC'),
                           ((d + 1)::timestamp AT TIME ZONE 'UTC'));
            created := created + 1;
        END IF;
    END LOOP;

    RETURN created;
END
$fn$;


-- retention: drops the daily partitions older than keep

CREATE OR REPLACE FUNCTION audit.drop_partitions(keep interval
                                                 DEFAULT interval '90 days')
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
    r        record;
    dropped  integer := 0;
BEGIN
    FOR r IN
        SELECT c.relname
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'audit.api_calls'::regclass
          AND c.relname ~ '^api_calls_[0-9]{8}$'
    LOOP
        IF to_date(substr(r.relname, 11), 'YYYYMMDD') + 1
           <= ((now() - keep) AT TIME ZONE 'UTC')::date
        THEN
            EXECUTE format('DROP TABLE audit.%I', r.relname);
            dropped := dropped + 1;
        END IF;
    END LOOP;

    DELETE FROM audit.api_calls_checkpoints WHERE ts < now() - keep;

    RETURN dropped;
END
$fn$;

SELECT audit.create_partitions(7);


CREATE OR REPLACE VIEW audit.security_events AS
    SELECT ts, request_id, node, client, user_name, role, auth_method,
           api_key_id, method, host, path, query, status, user_agent,
           auth_result, ratelimit_result, event_type, chain_id, seq
    FROM audit.api_calls
    WHERE event_type <> 'api_call';


-- roles: append-only writer, read-only reader

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'octopus_app') THEN
        CREATE ROLE octopus_app LOGIN;
    END IF;

    IF NOT EXISTS (SELECT 1 FROM pg_roles
                   WHERE rolname = 'octopus_readonly')
    THEN
        CREATE ROLE octopus_readonly LOGIN;
    END IF;
END
$roles$;

REVOKE ALL ON SCHEMA audit FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA audit FROM PUBLIC, octopus_app,
    octopus_readonly;
REVOKE ALL ON FUNCTION audit.create_partitions(integer),
    audit.drop_partitions(interval) FROM PUBLIC;

GRANT USAGE ON SCHEMA audit TO octopus_app, octopus_readonly;
GRANT INSERT ON audit.api_calls, audit.api_calls_checkpoints TO octopus_app;
GRANT SELECT ON audit.api_calls, audit.api_calls_checkpoints,
    audit.security_events TO octopus_readonly;

INSERT INTO audit.schema_migrations (version) VALUES (1), (2)
    ON CONFLICT DO NOTHING;

COMMIT;
