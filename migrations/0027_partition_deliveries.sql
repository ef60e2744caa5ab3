-- deliveries partitioned by month of received_at, as audit_events is (migration 0026): the
-- table as it was becomes deliveries_p0 (everything up to the end of this migration's month,
-- nothing copied), later months get a partition each from hookrun.ensure_partitions(), and
-- deliveries_default keeps a delivery whose month has none. An old month is archived by
-- DETACH PARTITION (after retention has emptied its bodies, or with them). The primary key
-- becomes (id, received_at); ids stay unique (UUIDv7 minted by the ingress), and the
-- writer's retry statement names the whole key (ON CONFLICT (id, received_at)).

DO $migration$
DECLARE
	v_edge timestamptz :=
		(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
BEGIN
	PERFORM hookrun.with_views_rebuilt(format($sql$
		ALTER TABLE hookrun.deliveries RENAME TO deliveries_p0;
		ALTER INDEX hookrun.deliveries_pkey RENAME TO deliveries_p0_pkey;
		ALTER INDEX hookrun.deliveries_source_received_idx
			RENAME TO deliveries_p0_source_received_idx;
		-- The triggers come from the parent now (on the old table too they would fire twice).
		DROP TRIGGER deliveries_route ON hookrun.deliveries_p0;
		DROP TRIGGER deliveries_audit ON hookrun.deliveries_p0;
		ALTER TABLE hookrun.deliveries_p0 DROP CONSTRAINT deliveries_p0_pkey;

		CREATE TABLE hookrun.deliveries (
			id              uuid        NOT NULL,
			source          text        NOT NULL,
			idempotency_key text,
			received_at     timestamptz NOT NULL,
			committed_at    timestamptz NOT NULL DEFAULT now(),
			method          text        NOT NULL,
			uri             text        NOT NULL,
			headers         jsonb       NOT NULL,
			content_type    text,
			body            bytea       NOT NULL,
			verified_by     text        NOT NULL,
			peer            text,
			route           jsonb,
			body_pruned_at  timestamptz,
			PRIMARY KEY (id, received_at)
		) PARTITION BY RANGE (received_at);
		CREATE INDEX deliveries_source_received_idx ON hookrun.deliveries (source, received_at);
		ALTER TABLE hookrun.deliveries ATTACH PARTITION hookrun.deliveries_p0
			FOR VALUES FROM (MINVALUE) TO (%L);
		CREATE TABLE hookrun.deliveries_default PARTITION OF hookrun.deliveries DEFAULT;
	$sql$, v_edge));
END $migration$;

CREATE TRIGGER deliveries_route AFTER INSERT ON hookrun.deliveries
	FOR EACH ROW WHEN (NEW.route IS NOT NULL) EXECUTE FUNCTION hookrun.deliveries_route();
CREATE TRIGGER deliveries_audit AFTER INSERT ON hookrun.deliveries
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
	EXECUTE FUNCTION hookrun.deliveries_audit();

COMMENT ON TABLE hookrun.deliveries IS
	'Every accepted inbound call, committed before the sender got its answer; partitioned by '
	'month of received_at';
COMMENT ON COLUMN hookrun.deliveries.route IS
	'What the source''s route asked for at receipt: {"kind","organisation","parameters","item"}, '
	'or {"error": why} when the body did not give what the route needs; NULL: stored only';
COMMENT ON COLUMN hookrun.deliveries.body_pruned_at IS
	'When retention emptied the body (retention_delivery_bodies); NULL: the body is whole';

GRANT SELECT, INSERT, UPDATE, DELETE ON hookrun.deliveries TO hookrun_service;
GRANT SELECT ON hookrun.deliveries TO hookrun_auditor;
ALTER TABLE hookrun.deliveries_default SET (autovacuum_vacuum_scale_factor = 0.05,
                                            autovacuum_vacuum_insert_scale_factor = 0.05);

-- partition_month() of migration 0026, with the autovacuum settings of migration 0025 for a
-- deliveries partition (a partitioned table holds none itself).
CREATE OR REPLACE FUNCTION hookrun.partition_month(p_table text, p_start timestamptz)
RETURNS boolean
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
	IF p_table = 'audit_events' THEN
		EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON hookrun.%I FOR EACH STATEMENT '
		               'EXECUTE FUNCTION hookrun.audit_append_only()',
		               v_name || '_no_truncate', v_name);
		EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON hookrun.%I FROM hookrun_service',
		               v_name);
	ELSIF p_table = 'deliveries' THEN
		EXECUTE format('ALTER TABLE hookrun.%I SET (autovacuum_vacuum_scale_factor = 0.05, '
		               'autovacuum_vacuum_insert_scale_factor = 0.05)',
		               v_name);
	END IF;
	RETURN true;
END $$;
REVOKE EXECUTE ON FUNCTION hookrun.partition_month(text, timestamptz) FROM PUBLIC;

SELECT hookrun.ensure_partitions(3);
