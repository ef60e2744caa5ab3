-- Items are loaded and settled in batches: a worker sends every load and every settlement
-- that is waiting as one statement, so that a busy worker commits (and waits for the disk)
-- once per batch instead of once per item.

-- Load several items at once: the rows of hookrun.load_item() for each (item, token) pair
-- whose lease still holds, with the item's id; a pair without a row is not the caller's.
CREATE FUNCTION hookrun.load_items(p_items bigint[], p_tokens bigint[], p_worker text)
RETURNS TABLE (item_id bigint, job_id uuid, kind text, organisation text, parameters jsonb,
               external_id text, desired jsonb, attempt integer, lease_ms bigint,
               due_ms bigint, job_age_ms bigint, delivery_id uuid)
LANGUAGE sql AS $$
	WITH req AS (
		SELECT r.id, r.token FROM unnest(p_items, p_tokens) AS r(id, token)
	), held AS (
		UPDATE hookrun.job_items i SET leased_by = p_worker
		FROM req WHERE i.id = req.id AND i.state = 'leased' AND i.fencing_token = req.token
		RETURNING i.id, i.job_id, i.external_id, i.desired, i.attempt, i.lease_expires_at,
		          i.run_at
	)
	SELECT h.id, h.job_id, j.kind, j.organisation, j.parameters, h.external_id, h.desired,
	       h.attempt,
	       greatest(0, floor(extract(epoch FROM h.lease_expires_at - now()) * 1000))::bigint,
	       greatest(0, floor(extract(epoch FROM now() - h.run_at) * 1000))::bigint,
	       greatest(0, floor(extract(epoch FROM now() - j.created_at) * 1000))::bigint,
	       j.delivery_id
	FROM held h JOIN hookrun.jobs j ON j.id = h.job_id;
$$;

-- Settle several items at once. p_items is a JSON array of objects {item, token, state,
-- result, error, run_at, calls}, each as hookrun.finish_item() takes them; the answer has one
-- row per item: whether its lease still held (a settlement whose lease is gone changes
-- nothing, but its calls are recorded all the same: they happened). Set-based: one INSERT of
-- the call records, one UPDATE of the items (so the count trigger runs once per batch and
-- locks the jobs in id order), one INSERT of the state changes.
CREATE FUNCTION hookrun.finish_items(p_items jsonb)
RETURNS TABLE (item_id bigint, held boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_done bigint[];
	v_requeued boolean;
	v_bad text;
BEGIN
	IF jsonb_typeof(p_items) IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION 'items must be a JSON array' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT e ->> 'state' INTO v_bad FROM jsonb_array_elements(p_items) AS x(e)
	WHERE (e ->> 'state') IS DISTINCT FROM 'succeeded' AND (e ->> 'state') IS DISTINCT FROM 'failed'
	  AND (e ->> 'state') IS DISTINCT FROM 'queued' LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'an item is completed as succeeded, failed or queued, not %', v_bad
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	INSERT INTO hookrun.audit_events (at, kind, actor, organisation, job_id, item_id,
	                                  delivery_id, detail)
	SELECT coalesce((c ->> 'at')::timestamptz, clock_timestamp()), 'api.call',
	       coalesce(i.leased_by, current_user), j.organisation, i.job_id, i.id, j.delivery_id,
	       c - 'at'
	FROM jsonb_array_elements(p_items) AS x(e)
	JOIN hookrun.job_items i ON i.id = (x.e ->> 'item')::bigint
	JOIN hookrun.jobs j ON j.id = i.job_id,
	     jsonb_array_elements(coalesce(nullif(x.e -> 'calls', 'null'::jsonb), '[]')) AS c
	ORDER BY i.id, (c ->> 'at');
	WITH req AS (
		SELECT (e ->> 'item')::bigint AS id, (e ->> 'token')::bigint AS token,
		       e ->> 'state' AS st, nullif(e -> 'result', 'null'::jsonb) AS res,
		       e ->> 'error' AS err, (e ->> 'run_at')::timestamptz AS due
		FROM jsonb_array_elements(p_items) AS x(e)
	), done AS (
		UPDATE hookrun.job_items i SET
			state = req.st, result = coalesce(req.res, i.result), last_error = req.err,
			run_at = CASE WHEN req.st = 'queued' THEN coalesce(req.due, now()) ELSE i.run_at END,
			lease_expires_at = NULL, fencing_token = NULL, updated_at = now()
		FROM req WHERE i.id = req.id AND i.state = 'leased' AND i.fencing_token = req.token
		RETURNING i.id, i.job_id, i.leased_by, i.attempt, req.st, req.err
	), audited AS (
		INSERT INTO hookrun.audit_events (kind, actor, organisation, job_id, item_id, detail)
		SELECT 'item.state', coalesce(d.leased_by, current_user), j.organisation, d.job_id, d.id,
		       jsonb_strip_nulls(jsonb_build_object('state', d.st, 'attempt', d.attempt,
		                                            'error', d.err))
		FROM done d JOIN hookrun.jobs j ON j.id = d.job_id
	)
	SELECT array_agg(d.id), bool_or(d.st = 'queued') INTO v_done, v_requeued FROM done d;
	IF v_requeued THEN
		PERFORM pg_notify('hookrun_work', 'retry');
	END IF;
	RETURN QUERY
	SELECT (e ->> 'item')::bigint, (e ->> 'item')::bigint = ANY (coalesce(v_done, '{}'))
	FROM jsonb_array_elements(p_items) AS x(e);
END $$;

-- The count trigger of migration 0004, locking only the jobs whose counts change: a change
-- that moves no item between states (who holds a lease, a result) takes no job lock, so
-- loads never queue behind settlements of the same job.
CREATE OR REPLACE FUNCTION hookrun.job_items_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	d hookrun.job_item_delta[];
BEGIN
	IF TG_OP = 'INSERT' THEN
		SELECT array_agg((job_id, state, 1)::hookrun.job_item_delta) INTO d FROM new_rows;
	ELSIF TG_OP = 'DELETE' THEN
		SELECT array_agg((job_id, state, -1)::hookrun.job_item_delta) INTO d FROM old_rows;
	ELSE
		SELECT array_agg(x) INTO d FROM (
			SELECT (n.job_id, n.state, 1)::hookrun.job_item_delta AS x
			FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE o.state <> n.state
			UNION ALL
			SELECT (o.job_id, o.state, -1)::hookrun.job_item_delta
			FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE o.state <> n.state) u;
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

-- Claims at thousands of items a second. The runnable items of one job are read in the order
-- claims take them (run_at, then id) straight from an index, instead of sorting the job's
-- queued items on every claim; and claim_items() is PL/pgSQL, so that its plan is made once
-- per session and kept rather than made again on every call (a SQL function's is not kept).
DROP INDEX hookrun.job_items_job_runnable_idx;
CREATE INDEX job_items_job_runnable_idx ON hookrun.job_items (job_id, run_at, id)
	WHERE state = 'queued';

CREATE OR REPLACE FUNCTION hookrun.claim_items(p_limit integer, p_lease interval, p_worker text,
                                               p_skip_organisations text[] DEFAULT '{}',
                                               p_caps jsonb DEFAULT '{}')
RETURNS TABLE (item_id bigint, job_id uuid, organisation text, fencing_token bigint,
               attempt integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	WITH expired AS (
		SELECT i.id, j.organisation, 0::bigint AS rn, 0::bigint AS jrank
		FROM hookrun.job_items i JOIN hookrun.jobs j ON j.id = i.job_id
		WHERE i.state = 'leased' AND i.lease_expires_at < now()
		  AND NOT (j.organisation = ANY (p_skip_organisations))
		ORDER BY i.lease_expires_at LIMIT p_limit FOR UPDATE OF i SKIP LOCKED
	), open AS (
		SELECT j.id, j.organisation,
		       row_number() OVER (ORDER BY (j.delivery_id IS NULL), j.created_at) AS jrank,
		       count(*) OVER () AS njobs
		FROM hookrun.jobs j
		WHERE j.items_queued > 0 AND NOT (j.organisation = ANY (p_skip_organisations))
	), room AS (
		SELECT o.organisation,
		       CASE WHEN p_caps ? o.organisation
		            THEN greatest(0, (p_caps ->> o.organisation)::integer - coalesce(
		                     (SELECT sum(x.items_leased) FROM hookrun.jobs x
		                      WHERE x.organisation = o.organisation AND x.items_leased > 0),
		                     0))
		       END AS room
		FROM (SELECT DISTINCT organisation FROM open) o
	), due AS (
		SELECT d.id, d.run_at, o.id AS job, o.organisation, o.jrank FROM open o CROSS JOIN LATERAL (
			SELECT i.id, i.run_at FROM hookrun.job_items i
			WHERE i.job_id = o.id AND i.state = 'queued' AND i.run_at <= now()
			ORDER BY i.run_at, i.id
			LIMIT greatest(1, ceil(p_limit::numeric / o.njobs))::integer
			FOR UPDATE SKIP LOCKED) d
	), ranked AS (
		SELECT id, organisation, 0 AS o, rn, jrank FROM expired
		UNION ALL
		SELECT id, organisation, 1, row_number() OVER (PARTITION BY job ORDER BY run_at, id),
		       jrank
		FROM due
	), numbered AS (
		SELECT r.*, row_number() OVER (PARTITION BY r.organisation, r.o
		                               ORDER BY r.rn, r.jrank) AS orn
		FROM ranked r
	), capped AS (
		-- An expired lease is already counted in its organisation's items_leased: taking it
		-- over does not add to what is in flight, so it never waits for room.
		SELECT n.id, n.o, n.rn, n.jrank FROM numbered n LEFT JOIN room m USING (organisation)
		WHERE n.o = 0 OR m.room IS NULL OR n.orn <= m.room
	), picked AS (
		SELECT id FROM capped ORDER BY o, rn, jrank LIMIT p_limit
	), leased AS (
		UPDATE hookrun.job_items i SET
			state = 'leased', attempt = i.attempt + 1, lease_expires_at = now() + p_lease,
			fencing_token = nextval('hookrun.fencing_tokens'), leased_by = p_worker,
			updated_at = now()
		FROM picked WHERE i.id = picked.id
		RETURNING i.id, i.job_id, i.fencing_token, i.attempt
	), audited AS (
		INSERT INTO hookrun.audit_events (kind, actor, organisation, job_id, item_id, detail)
		SELECT 'item.state', p_worker, j.organisation, l.job_id, l.id,
		       jsonb_build_object('state', 'leased', 'attempt', l.attempt,
		                          'fencing_token', l.fencing_token)
		FROM leased l JOIN hookrun.jobs j ON j.id = l.job_id
	)
	SELECT l.id, l.job_id, j.organisation, l.fencing_token, l.attempt
	FROM leased l JOIN hookrun.jobs j ON j.id = l.job_id;
END $$;
