-- audit_events partitioned by month (of at), so that an old month can be detached and archived
-- without a DELETE, which the append-only rule forbids anyway:
--
--   ALTER TABLE hookrun.audit_events DETACH PARTITION hookrun.audit_events_p202701;
--   pg_dump -t hookrun.audit_events_p202701 ... > archive.sql; DROP TABLE ...;
--
-- and `hookrun audit verify --from BLOCK` checks the chain from the first block whose events
-- are all still attached (blocks are ranges of transactions, so the block at a month's edge
-- holds events of both months).
--
-- The table as it was becomes the first partition, audit_events_p0, holding every event up to
-- the end of the month of this migration: no event is copied or rewritten (an event's xact,
-- which places it in its block, stays as it was). Months after it get a partition each,
-- made ahead by hookrun.ensure_partitions() (here for three months, then by the ingress's
-- sealer once an hour); a DEFAULT partition keeps an event whose month has none, so that no
-- write ever fails for want of one. The primary key becomes (id, at): a partitioned table's
-- unique keys hold its partition key.

-- Run p_sql with every view of the schema dropped before and made again after, from its own
-- definition (and comments): views refer to tables by identity, and p_sql replaces a table
-- the views read.
CREATE FUNCTION hookrun.with_views_rebuilt(p_sql text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v record;
BEGIN
	CREATE TEMP TABLE saved_views ON COMMIT DROP AS
	SELECT c.oid, c.relname, pg_get_viewdef(c.oid) AS def,
	       obj_description(c.oid, 'pg_class') AS comment
	FROM pg_class c WHERE c.relkind = 'v' AND c.relnamespace = 'hookrun'::regnamespace;
	CREATE TEMP TABLE saved_view_columns ON COMMIT DROP AS
	SELECT c.relname, a.attname, d.description
	FROM pg_class c
	JOIN pg_attribute a ON a.attrelid = c.oid
	JOIN pg_description d ON d.objoid = c.oid AND d.objsubid = a.attnum
	WHERE c.relkind = 'v' AND c.relnamespace = 'hookrun'::regnamespace;
	FOR v IN SELECT relname FROM saved_views ORDER BY oid DESC LOOP
		EXECUTE format('DROP VIEW IF EXISTS hookrun.%I CASCADE', v.relname);
	END LOOP;
	EXECUTE p_sql;
	FOR v IN SELECT * FROM saved_views ORDER BY oid LOOP
		EXECUTE format('CREATE VIEW hookrun.%I AS %s', v.relname, v.def);
		IF v.comment IS NOT NULL THEN
			EXECUTE format('COMMENT ON VIEW hookrun.%I IS %L', v.relname, v.comment);
		END IF;
	END LOOP;
	FOR v IN SELECT * FROM saved_view_columns LOOP
		EXECUTE format('COMMENT ON COLUMN hookrun.%I.%I IS %L', v.relname, v.attname,
		               v.description);
	END LOOP;
	DROP TABLE saved_views, saved_view_columns;
END $$;

-- The partition of p_table for the month starting at p_start, made unless it exists or another
-- partition covers the month already; true when made. Its TRUNCATE is refused like the
-- parent's when the parent is an audit table (statement triggers are not inherited).
CREATE FUNCTION hookrun.partition_month(p_table text, p_start timestamptz) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_name text := p_table || '_p' || to_char(p_start AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
	IF to_regclass('hookrun.' || v_name) IS NOT NULL THEN
		RETURN false;
	END IF;
	BEGIN
		EXECUTE format('CREATE TABLE hookrun.%I PARTITION OF hookrun.%I FOR VALUES FROM (%L) TO (%L)',
		               v_name, p_table, p_start, p_start + interval '1 month');
	EXCEPTION WHEN invalid_object_definition OR check_violation THEN
		-- Another partition covers the month (the first one does until it ends), or the
		-- DEFAULT partition holds rows of it already: the rows stay where they are.
		RETURN false;
	END;
	IF p_table IN ('audit_events') THEN
		EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON hookrun.%I FOR EACH STATEMENT '
		               'EXECUTE FUNCTION hookrun.audit_append_only()',
		               v_name || '_no_truncate', v_name);
		EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON hookrun.%I FROM hookrun_service',
		               v_name);
	END IF;
	RETURN true;
END $$;

-- The partitions of the months from this one to p_ahead months ahead, for every partitioned
-- table; the number made. Safe to call often and from several sessions.
CREATE FUNCTION hookrun.ensure_partitions(p_ahead integer DEFAULT 3) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_made integer := 0;
	v_table text;
	v_month timestamptz := date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
BEGIN
	-- One session at a time: two making the same partition would collide.
	PERFORM pg_advisory_xact_lock(hashtextextended('hookrun.ensure_partitions', 0));
	FOR v_table IN
		SELECT c.relname FROM pg_class c
		WHERE c.relnamespace = 'hookrun'::regnamespace AND c.relkind = 'p'
	LOOP
		FOR i IN 0 .. greatest(p_ahead, 0) LOOP
			IF hookrun.partition_month(v_table, v_month + make_interval(months => i)) THEN
				v_made := v_made + 1;
			END IF;
		END LOOP;
	END LOOP;
	RETURN v_made;
END $$;
REVOKE EXECUTE ON FUNCTION hookrun.partition_month(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hookrun.ensure_partitions(integer) TO hookrun_service;

DO $migration$
DECLARE
	v_edge timestamptz :=
		(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
	v_next bigint;
BEGIN
	SELECT coalesce(max(id), 0) + 1 INTO v_next FROM hookrun.audit_events;
	PERFORM hookrun.with_views_rebuilt(format($sql$
		ALTER TABLE hookrun.audit_events RENAME TO audit_events_p0;
		ALTER INDEX hookrun.audit_events_pkey RENAME TO audit_events_p0_pkey;
		ALTER INDEX hookrun.audit_events_item_idx RENAME TO audit_events_p0_item_idx;
		ALTER INDEX hookrun.audit_events_job_idx RENAME TO audit_events_p0_job_idx;
		ALTER INDEX hookrun.audit_events_xact_idx RENAME TO audit_events_p0_xact_idx;
		-- Row triggers come from the parent now; the TRUNCATE one stays (not inherited).
		DROP TRIGGER audit_events_xact ON hookrun.audit_events_p0;
		DROP TRIGGER audit_events_append_only ON hookrun.audit_events_p0;
		ALTER TRIGGER audit_events_no_truncate ON hookrun.audit_events_p0
			RENAME TO audit_events_p0_no_truncate;
		ALTER TABLE hookrun.audit_events_p0 ALTER COLUMN id DROP IDENTITY;
		ALTER TABLE hookrun.audit_events_p0 DROP CONSTRAINT audit_events_p0_pkey;

		CREATE TABLE hookrun.audit_events (
			id           bigint      GENERATED ALWAYS AS IDENTITY (START WITH %s),
			at           timestamptz NOT NULL DEFAULT clock_timestamp(),
			kind         text        NOT NULL,
			actor        text        NOT NULL,
			organisation text,
			job_id       uuid,
			item_id      bigint,
			delivery_id  uuid,
			detail       jsonb       NOT NULL DEFAULT '{}',
			xact         xid8        NOT NULL,
			PRIMARY KEY (id, at)
		) PARTITION BY RANGE (at);
		CREATE INDEX audit_events_item_idx ON hookrun.audit_events (item_id, id)
			WHERE item_id IS NOT NULL;
		CREATE INDEX audit_events_job_idx ON hookrun.audit_events (job_id, id)
			WHERE job_id IS NOT NULL;
		CREATE INDEX audit_events_xact_idx ON hookrun.audit_events (xact, id);
		ALTER TABLE hookrun.audit_events ATTACH PARTITION hookrun.audit_events_p0
			FOR VALUES FROM (MINVALUE) TO (%L);
		CREATE TABLE hookrun.audit_events_default PARTITION OF hookrun.audit_events DEFAULT;
		CREATE TRIGGER audit_events_default_no_truncate BEFORE TRUNCATE
			ON hookrun.audit_events_default
			FOR EACH STATEMENT EXECUTE FUNCTION hookrun.audit_append_only();
	$sql$, v_next, v_edge));
END $migration$;

-- The digest functions take a row of the table: made again for the new one (their text is
-- migration 0020's).
DROP FUNCTION hookrun.audit_event_digest(hookrun.audit_events_p0);
DROP FUNCTION hookrun.audit_event_text(hookrun.audit_events_p0);
CREATE FUNCTION hookrun.audit_event_text(e hookrun.audit_events) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT pg_catalog.json_build_array(e.id, e.at AT TIME ZONE 'UTC', e.kind, e.actor,
	                                   e.organisation, e.job_id, e.item_id, e.delivery_id,
	                                   e.detail)::text
$$;
CREATE FUNCTION hookrun.audit_event_digest(e hookrun.audit_events) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT sha256(convert_to(hookrun.audit_event_text(e), 'UTF8'))
$$;

CREATE TRIGGER audit_events_xact BEFORE INSERT ON hookrun.audit_events
	FOR EACH ROW EXECUTE FUNCTION hookrun.audit_events_xact();
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON hookrun.audit_events
	FOR EACH ROW EXECUTE FUNCTION hookrun.audit_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON hookrun.audit_events
	FOR EACH STATEMENT EXECUTE FUNCTION hookrun.audit_append_only();

COMMENT ON TABLE hookrun.audit_events IS
	'Every audit event, append-only, sealed in blocks (audit_seals); partitioned by month of at';
COMMENT ON COLUMN hookrun.audit_events.xact IS
	'The writing transaction (its top-level id): which seal block the event belongs to; 0 '
	'for events written before migration 0020';

-- The grants of migration 0021 on the new table: the services add rows and read them, the
-- auditors read.
REVOKE ALL ON hookrun.audit_events FROM hookrun_service, hookrun_auditor;
GRANT SELECT, INSERT ON hookrun.audit_events TO hookrun_service;
GRANT SELECT ON hookrun.audit_events TO hookrun_auditor;
REVOKE UPDATE, DELETE ON hookrun.audit_events_p0, hookrun.audit_events_default
	FROM hookrun_service;

SELECT hookrun.ensure_partitions(3);
