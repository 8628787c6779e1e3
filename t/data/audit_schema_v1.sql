-- Fixture for t/audit_schema.t: conf/sql/001_audit_schema.sql as released
-- at schema version 1 (primary key (ts, request_id)); do not edit.

-- Octopus Guard audit schema, migration 001 (idempotent: safe to re-run).
--
--   psql -v ON_ERROR_STOP=1 -d octopus -f conf/sql/001_audit_schema.sql
--
-- audit.api_calls is partitioned by time: a TimescaleDB hypertable with a
-- retention policy when the extension can be created, native daily range
-- partitions otherwise (audit.create_partitions() creates them ahead,
-- audit.drop_partitions() applies the retention, also to the checkpoints;
-- run both daily, e.g. from cron or pg_cron).  Primary key (ts, request_id): a record replayed twice
-- is stored once (the writer uses INSERT ... ON CONFLICT DO NOTHING).
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
        user_name         text,
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
        chain_id          text        NOT NULL,
        seq               bigint      NOT NULL,
        prev_hash         text        NOT NULL,
        hash              text        NOT NULL,
        PRIMARY KEY (ts, request_id)
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

CREATE INDEX IF NOT EXISTS api_calls_user_ts
    ON audit.api_calls (user_name, ts);
CREATE INDEX IF NOT EXISTS api_calls_event_ts
    ON audit.api_calls (event_type, ts) WHERE event_type <> 'api_call';
CREATE INDEX IF NOT EXISTS api_calls_chain_seq
    ON audit.api_calls (chain_id, seq);


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

INSERT INTO audit.schema_migrations (version) VALUES (1)
    ON CONFLICT DO NOTHING;

COMMIT;
