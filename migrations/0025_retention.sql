-- Retention: delivery bodies and finished jobs' items are pruned by age, in small batches, by
-- an ingress (retention_delivery_bodies, retention_finished_items; both off by default), and
-- the hot queue tables get autovacuum settings of their own.
--
-- A delivery whose body is pruned keeps its row (source, headers, when, how it was verified,
-- its routing) with an empty body and body_pruned_at set; it can no longer be replayed. A
-- finished job whose items are pruned keeps its row and its counts, with items_pruned_at set.
-- Each batch leaves a retention.pruned audit event (what, how many rows, the age limit).

ALTER TABLE hookrun.deliveries ADD COLUMN body_pruned_at timestamptz;
COMMENT ON COLUMN hookrun.deliveries.body_pruned_at IS
	'When retention emptied the body (retention_delivery_bodies); NULL: the body is whole';
ALTER TABLE hookrun.jobs ADD COLUMN items_pruned_at timestamptz;
COMMENT ON COLUMN hookrun.jobs.items_pruned_at IS
	'When retention removed the finished job''s items (retention_finished_items); the counts stay';
CREATE INDEX jobs_finished_unpruned_idx ON hookrun.jobs (finished_at)
	WHERE finished_at IS NOT NULL AND items_pruned_at IS NULL;

-- Where pruning has got to, per kind: delivery ids are UUIDv7 (time-ordered), pruned in id
-- order, so each batch starts where the last one stopped instead of reading the pruned rows
-- again.
CREATE TABLE hookrun.retention_marks (
	what text PRIMARY KEY,
	upto uuid NOT NULL
);

-- The smallest UUIDv7 of a moment: its 48-bit Unix milliseconds, then zeros. Every id minted
-- at or after that moment compares greater (uuid comparison is bytewise).
CREATE FUNCTION hookrun.uuid7_floor(p_at timestamptz) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT (lpad(to_hex((extract(epoch FROM p_at) * 1000)::bigint), 12, '0')
	        || '00000000000000000000')::uuid;
$$;

-- Empty the bodies of the next p_batch deliveries received more than p_older_than ago; the
-- number of deliveries the batch went past (0: nothing left, or another session is pruning).
CREATE FUNCTION hookrun.prune_delivery_bodies(p_older_than interval, p_batch integer,
                                              p_by text)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_from uuid;
	v_to uuid := hookrun.uuid7_floor(now() - p_older_than);
	v_last uuid;
	v_read integer;
	v_n integer;
BEGIN
	IF p_older_than < interval '1 hour' OR p_batch < 1 THEN
		RAISE EXCEPTION 'prune_delivery_bodies: an age of at least 1 hour and a batch of 1 or more'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT pg_try_advisory_xact_lock(hashtextextended('hookrun.prune_delivery_bodies', 0)) THEN
		RETURN 0;
	END IF;
	SELECT upto INTO v_from FROM hookrun.retention_marks WHERE what = 'delivery_bodies';
	v_from := coalesce(v_from, '00000000-0000-0000-0000-000000000000');
	WITH batch AS (
		SELECT d.id FROM hookrun.deliveries d
		WHERE d.id > v_from AND d.id < v_to
		ORDER BY d.id LIMIT p_batch
	), pruned AS (
		UPDATE hookrun.deliveries d SET body = '\x'::bytea, body_pruned_at = now()
		FROM batch b WHERE d.id = b.id AND d.body_pruned_at IS NULL
		RETURNING d.id
	)
	SELECT (SELECT id FROM batch ORDER BY id DESC LIMIT 1), (SELECT count(*) FROM batch),
	       (SELECT count(*) FROM pruned)
	INTO v_last, v_read, v_n;
	IF v_last IS NULL THEN
		RETURN 0;
	END IF;
	INSERT INTO hookrun.retention_marks (what, upto) VALUES ('delivery_bodies', v_last)
	ON CONFLICT (what) DO UPDATE SET upto = EXCLUDED.upto;
	IF v_n > 0 THEN
		INSERT INTO hookrun.audit_events (kind, actor, detail)
		VALUES ('retention.pruned', p_by,
		        jsonb_build_object('what', 'delivery_bodies', 'rows', v_n,
		                           'older_than', p_older_than::text, 'upto', v_last));
	END IF;
	RETURN v_read;
END $$;

-- The item count trigger leaves a job's counts alone while retention deletes its items.
CREATE OR REPLACE FUNCTION hookrun.job_items_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	d hookrun.job_item_delta[];
BEGIN
	IF TG_OP = 'INSERT' THEN
		SELECT array_agg((job_id, state, 1)::hookrun.job_item_delta) INTO d FROM new_rows;
	ELSIF TG_OP = 'DELETE' THEN
		IF current_setting('hookrun.pruning', true) = 'on' THEN
			RETURN NULL;
		END IF;
		SELECT array_agg((job_id, state, -1)::hookrun.job_item_delta) INTO d FROM old_rows;
	ELSE
		SELECT array_agg(v.x) INTO d
		FROM new_rows n JOIN old_rows o ON o.id = n.id AND o.state <> n.state,
		     LATERAL (VALUES ((n.job_id, n.state, 1)::hookrun.job_item_delta),
		                     ((o.job_id, o.state, -1)::hookrun.job_item_delta)) v(x);
	END IF;
	IF d IS NULL THEN
		RETURN NULL;
	END IF;
	-- Each job's row is locked in id order before any is changed, so that two transactions
	-- touching the same jobs queue behind each other instead of deadlocking.
	PERFORM 1 FROM hookrun.jobs
	WHERE id IN (SELECT DISTINCT x.job_id FROM unnest(d) x) ORDER BY id FOR NO KEY UPDATE;
	WITH per_job AS (
		SELECT job_id,
		       coalesce(sum(n) FILTER (WHERE state = 'queued'), 0) AS q,
		       coalesce(sum(n) FILTER (WHERE state = 'leased'), 0) AS l,
		       coalesce(sum(n) FILTER (WHERE state = 'succeeded'), 0) AS s,
		       coalesce(sum(n) FILTER (WHERE state = 'failed'), 0) AS f,
		       coalesce(sum(n) FILTER (WHERE state = 'cancelled'), 0) AS c
		FROM unnest(d) GROUP BY job_id
	)
	UPDATE hookrun.jobs j SET
		items_queued    = j.items_queued + p.q,
		items_leased    = j.items_leased + p.l,
		items_succeeded = j.items_succeeded + p.s,
		items_failed    = j.items_failed + p.f,
		items_cancelled = j.items_cancelled + p.c,
		items_total     = j.items_total + p.q + p.l + p.s + p.f + p.c
	FROM per_job p
	WHERE j.id = p.job_id AND (p.q, p.l, p.s, p.f, p.c) <> (0, 0, 0, 0, 0);
	RETURN NULL;
END $$;

-- Delete up to p_batch items of jobs finished more than p_older_than ago (their counts stay);
-- a job left with none is marked items_pruned_at. The number deleted (0: nothing left, or
-- another session is pruning).
CREATE FUNCTION hookrun.prune_finished_items(p_older_than interval, p_batch integer,
                                             p_by text)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_n integer;
	v_jobs integer;
BEGIN
	IF p_older_than < interval '1 hour' OR p_batch < 1 THEN
		RAISE EXCEPTION 'prune_finished_items: an age of at least 1 hour and a batch of 1 or more'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT pg_try_advisory_xact_lock(hashtextextended('hookrun.prune_finished_items', 0)) THEN
		RETURN 0;
	END IF;
	PERFORM set_config('hookrun.pruning', 'on', true);
	WITH batch AS (
		SELECT i.id FROM hookrun.jobs j JOIN hookrun.job_items i ON i.job_id = j.id
		WHERE j.finished_at < now() - p_older_than AND j.items_pruned_at IS NULL
		LIMIT p_batch
	)
	DELETE FROM hookrun.job_items i USING batch b WHERE i.id = b.id;
	GET DIAGNOSTICS v_n = ROW_COUNT;
	PERFORM set_config('hookrun.pruning', 'off', true);
	UPDATE hookrun.jobs j SET items_pruned_at = now()
	WHERE j.finished_at < now() - p_older_than AND j.items_pruned_at IS NULL
	  AND NOT EXISTS (SELECT FROM hookrun.job_items i WHERE i.job_id = j.id);
	GET DIAGNOSTICS v_jobs = ROW_COUNT;
	IF v_n > 0 OR v_jobs > 0 THEN
		INSERT INTO hookrun.audit_events (kind, actor, detail)
		VALUES ('retention.pruned', p_by,
		        jsonb_build_object('what', 'finished_items', 'rows', v_n, 'jobs', v_jobs,
		                           'older_than', p_older_than::text));
	END IF;
	RETURN v_n;
END $$;

-- A delivery whose body was pruned cannot be replayed (replay_delivery() as in migration
-- 0023 otherwise): every replay, the API's and the CLI's, goes through it.
CREATE OR REPLACE FUNCTION hookrun.replay_delivery(p_delivery_id uuid, p_route jsonb,
                                                   p_requested_by text,
                                                   p_force boolean DEFAULT false)
RETURNS TABLE (outcome text, job_id uuid, reason text) LANGUAGE plpgsql AS $$
DECLARE
	v_source text;
	v_pruned timestamptz;
	v_last record;
BEGIN
	IF p_requested_by IS NULL OR p_requested_by = '' THEN
		RAISE EXCEPTION 'a replay names who asked for it'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- One replay of a delivery at a time: a second waits and then sees the first's job.
	SELECT d.source, d.body_pruned_at INTO v_source, v_pruned FROM hookrun.deliveries d
	WHERE d.id = p_delivery_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no delivery %', p_delivery_id USING ERRCODE = 'no_data_found';
	END IF;
	IF v_pruned IS NOT NULL THEN
		RAISE EXCEPTION 'delivery %: its body was pruned at % (retention_delivery_bodies)',
			p_delivery_id, v_pruned USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	PERFORM pg_advisory_xact_lock(hashtextextended(p_delivery_id::text, 0));
	SELECT r.outcome, r.job_id INTO v_last FROM hookrun.delivery_routes r
	WHERE r.delivery_id = p_delivery_id ORDER BY r.id DESC LIMIT 1;
	IF NOT p_force AND v_last.outcome = 'routed' THEN
		RAISE EXCEPTION 'delivery % was routed to job % already', p_delivery_id, v_last.job_id
			USING ERRCODE = 'unique_violation',
			      HINT = 'force the replay to make a second job';
	END IF;
	PERFORM hookrun.route_delivery(p_delivery_id, v_source, p_route, p_requested_by);
	SELECT r.outcome, r.job_id, r.reason INTO v_last FROM hookrun.delivery_routes r
	WHERE r.delivery_id = p_delivery_id ORDER BY r.id DESC LIMIT 1;
	INSERT INTO hookrun.audit_events (kind, actor, organisation, job_id, delivery_id, detail)
	VALUES ('delivery.replayed', p_requested_by, p_route ->> 'organisation', v_last.job_id,
	        p_delivery_id,
	        jsonb_strip_nulls(jsonb_build_object('source', v_source, 'outcome', v_last.outcome,
	                                             'reason', v_last.reason,
	                                             'forced', p_force)));
	RETURN QUERY SELECT v_last.outcome, v_last.job_id, v_last.reason;
END $$;

-- The API shows what retention took: a job's items_pruned_at, a delivery's body_pruned_at
-- (job_json() of migration 0013 and delivery_json() of 0015 otherwise).
CREATE OR REPLACE FUNCTION hookrun.job_json(p_id uuid, p_organisations text[])
RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_strip_nulls(jsonb_build_object(
		'id', j.id, 'kind', j.kind, 'organisation', j.organisation, 'state', j.state,
		'submitted_by', j.submitted_by, 'delivery_id', j.delivery_id,
		'parameters', j.parameters,
		'created_at', j.created_at, 'started_at', j.started_at, 'finished_at', j.finished_at,
		'items_pruned_at', j.items_pruned_at,
		'items', jsonb_build_object('total', j.items_total, 'queued', j.items_queued,
		                            'running', j.items_leased,
		                            'succeeded', j.items_succeeded,
		                            'failed', j.items_failed,
		                            'cancelled', j.items_cancelled),
		'rate_per_s', r.rate, 'eta_s', CASE WHEN j.finished_at IS NULL AND r.rate > 0
		                                  THEN round((j.items_queued + j.items_leased) / r.rate, 1)
		                             END))
	FROM hookrun.jobs j
	CROSS JOIN LATERAL (
		SELECT CASE WHEN j.started_at IS NOT NULL
		            AND coalesce(j.finished_at, now()) > j.started_at
		       THEN round(((j.items_succeeded + j.items_failed + j.items_cancelled) /
		                   extract(epoch FROM coalesce(j.finished_at, now()) - j.started_at))
		                  ::numeric, 1)
		       END AS rate) r
	WHERE j.id = p_id AND j.organisation = ANY (p_organisations);
$$;

CREATE OR REPLACE FUNCTION hookrun.delivery_json(p_id uuid, p_source_orgs jsonb, p_organisations text[])
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
	d hookrun.deliveries;
	v_payload jsonb;
BEGIN
	SELECT * INTO d FROM hookrun.deliveries WHERE id = p_id;
	IF NOT FOUND OR NOT hookrun.delivery_visible(d.id, d.source, p_source_orgs,
	                                             p_organisations) THEN
		RETURN NULL;
	END IF;
	IF d.content_type ILIKE '%json%' THEN
		BEGIN
			v_payload := convert_from(d.body, 'UTF8')::jsonb;
		EXCEPTION WHEN OTHERS THEN
			v_payload := NULL; -- stored as received; not JSON after all
		END;
	END IF;
	RETURN jsonb_strip_nulls(jsonb_build_object(
		'id', d.id, 'source', d.source, 'received_at', d.received_at,
		'idempotency_key', d.idempotency_key, 'content_type', d.content_type,
		'body_bytes', octet_length(d.body), 'verified_by', d.verified_by,
		'body_pruned_at', d.body_pruned_at,
		'payload', v_payload, 'route', d.route,
		'routings', (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
		                 'at', r.at, 'outcome', r.outcome, 'job_id', r.job_id,
		                 'reason', r.reason,
		                 'requested_by', coalesce(r.requested_by, 'receipt'))) ORDER BY r.id),
		                 '[]')
		             FROM hookrun.delivery_routes r WHERE r.delivery_id = d.id)));
END $$;

-- Autovacuum for the hot queue tables: job_items and jobs change on every lease and
-- settlement (room on each page for HOT updates, vacuumed after 2 % of rows changed instead of
-- 20 %); idempotency keys expire and are deleted; deliveries are appended to (and their
-- bodies emptied by retention).
ALTER TABLE hookrun.job_items SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02,
                                   autovacuum_analyze_scale_factor = 0.02,
                                   autovacuum_vacuum_cost_delay = 1);
ALTER TABLE hookrun.jobs SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02,
                              autovacuum_analyze_scale_factor = 0.05,
                              autovacuum_vacuum_cost_delay = 1);
ALTER TABLE hookrun.idempotency_keys SET (autovacuum_vacuum_scale_factor = 0.05,
                                          autovacuum_analyze_scale_factor = 0.05);
ALTER TABLE hookrun.deliveries SET (autovacuum_vacuum_scale_factor = 0.05,
                                    autovacuum_vacuum_insert_scale_factor = 0.05);

GRANT EXECUTE ON FUNCTION hookrun.prune_delivery_bodies(interval, integer, text),
	hookrun.prune_finished_items(interval, integer, text) TO hookrun_service;
