-- Loading an item no longer writes. The load recorded the worker as the item's holder
-- (leased_by), which made every item one more UPDATE of its row (a new row version, its
-- index entries, the count trigger's transition tables) and one more commit waiting for the
-- disk, on the path from a claim to the item's first API call. The lease and its fencing
-- token already say whether the caller may run the item; the worker that ran it is named
-- when it settles (finish_items) or hands the item back (release_item).
--
-- leased_by is now: the dispatcher that claimed the item while it is leased, then the worker
-- that settled or released it.

DROP FUNCTION hookrun.load_items(bigint[], bigint[], text);
DROP FUNCTION hookrun.load_item(bigint, bigint, text);

-- What a worker needs to run the items it was sent, for each (item, token) pair whose token
-- still holds the lease: the job's kind, organisation and parameters, the item's target and
-- desired state, the lease time left, how long the item has been due and how old its job is.
-- No row for a pair whose lease is gone (expired and claimed again, or settled). Reads only.
-- PL/pgSQL so that its plan is made once per session (a SQL function's is made per call).
CREATE FUNCTION hookrun.load_items(p_items bigint[], p_tokens bigint[])
RETURNS TABLE (item_id bigint, job_id uuid, kind text, organisation text, parameters jsonb,
               external_id text, desired jsonb, attempt integer, lease_ms bigint,
               due_ms bigint, job_age_ms bigint, delivery_id uuid)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	SELECT i.id, i.job_id, j.kind, j.organisation, j.parameters, i.external_id, i.desired,
	       i.attempt,
	       greatest(0, floor(extract(epoch FROM i.lease_expires_at - now()) * 1000))::bigint,
	       greatest(0, floor(extract(epoch FROM now() - i.run_at) * 1000))::bigint,
	       greatest(0, floor(extract(epoch FROM now() - j.created_at) * 1000))::bigint,
	       j.delivery_id
	FROM unnest(p_items, p_tokens) AS r(id, token)
	JOIN hookrun.job_items i ON i.id = r.id AND i.state = 'leased' AND i.fencing_token = r.token
	JOIN hookrun.jobs j ON j.id = i.job_id;
END $$;

-- The rows of load_items() for one item, without its item_id.
CREATE FUNCTION hookrun.load_item(p_item_id bigint, p_token bigint)
RETURNS TABLE (job_id uuid, kind text, organisation text, parameters jsonb, external_id text,
               desired jsonb, attempt integer, lease_ms bigint, due_ms bigint,
               job_age_ms bigint, delivery_id uuid)
LANGUAGE sql STABLE AS $$
	SELECT job_id, kind, organisation, parameters, external_id, desired, attempt, lease_ms,
	       due_ms, job_age_ms, delivery_id
	FROM hookrun.load_items(ARRAY[p_item_id], ARRAY[p_token]);
$$;

-- finish_items() as in 0008, naming the worker: a settlement object may carry "worker", which
-- becomes the item's leased_by and the actor of its call and state rows (without it, the
-- item's leased_by as before).
--
-- Rows are found by id through an array (id = ANY (...)) and each job by a lookup of its key.
-- A PL/pgSQL statement runs on a generic plan, which guesses a batch at a tenth of a table;
-- joined to the set of settlements, that guess can make the planner hash a whole scan of
-- job_items for every batch (about 0.23 ms per 1,000 rows of job_items), as it did for the
-- claim below. An id array always takes the primary key.
CREATE OR REPLACE FUNCTION hookrun.finish_items(p_items jsonb)
RETURNS TABLE (item_id bigint, held boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_ids bigint[];
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
	v_ids := ARRAY(SELECT (e ->> 'item')::bigint FROM jsonb_array_elements(p_items) AS x(e));
	INSERT INTO hookrun.audit_events (at, kind, actor, organisation, job_id, item_id,
	                                  delivery_id, detail)
	SELECT coalesce((c ->> 'at')::timestamptz, clock_timestamp()), 'api.call',
	       coalesce(x.e ->> 'worker', i.leased_by, current_user), j.organisation, i.job_id, i.id,
	       j.delivery_id, c - 'at'
	FROM jsonb_array_elements(p_items) AS x(e)
	JOIN (SELECT id, job_id, leased_by FROM hookrun.job_items WHERE id = ANY (v_ids)) i
	  ON i.id = (x.e ->> 'item')::bigint
	CROSS JOIN LATERAL (SELECT organisation, delivery_id FROM hookrun.jobs
	                    WHERE id = i.job_id) j,
	     jsonb_array_elements(coalesce(nullif(x.e -> 'calls', 'null'::jsonb), '[]')) AS c
	ORDER BY i.id, (c ->> 'at');
	WITH req AS (
		SELECT (e ->> 'item')::bigint AS id, (e ->> 'token')::bigint AS token,
		       e ->> 'state' AS st, nullif(e -> 'result', 'null'::jsonb) AS res,
		       e ->> 'error' AS err, (e ->> 'run_at')::timestamptz AS due, e ->> 'worker' AS who
		FROM jsonb_array_elements(p_items) AS x(e)
	), done AS (
		UPDATE hookrun.job_items i SET
			state = req.st, result = coalesce(req.res, i.result), last_error = req.err,
			run_at = CASE WHEN req.st = 'queued' THEN coalesce(req.due, now()) ELSE i.run_at END,
			lease_expires_at = NULL, fencing_token = NULL, updated_at = now(),
			leased_by = coalesce(req.who, i.leased_by)
		FROM req
		WHERE i.id = ANY (v_ids) AND i.id = req.id AND i.state = 'leased'
		  AND i.fencing_token = req.token
		RETURNING i.id, i.job_id, i.leased_by, i.attempt, req.st, req.err
	), audited AS (
		INSERT INTO hookrun.audit_events (kind, actor, organisation, job_id, item_id, detail)
		SELECT 'item.state', coalesce(d.leased_by, current_user),
		       (SELECT j.organisation FROM hookrun.jobs j WHERE j.id = d.job_id), d.job_id,
		       d.id,
		       jsonb_strip_nulls(jsonb_build_object('state', d.st, 'attempt', d.attempt,
		                                            'error', d.err))
		FROM done d
	)
	SELECT array_agg(d.id), bool_or(d.st = 'queued') INTO v_done, v_requeued FROM done d;
	IF v_requeued THEN
		PERFORM pg_notify('hookrun_work', 'retry');
	END IF;
	RETURN QUERY
	SELECT (e ->> 'item')::bigint, (e ->> 'item')::bigint = ANY (coalesce(v_done, '{}'))
	FROM jsonb_array_elements(p_items) AS x(e);
END $$;

-- claim_items() as in 0008, taking the picked items by id through an array and each job's
-- organisation by a lookup of its key, for the reason given above finish_items(): on its
-- generic plan the claim guessed thousands of picked rows and hashed a scan of the whole of
-- job_items for every claim: a 16-item claim took 2.5 ms at the start of a 20,000-item job
-- and 7.5 ms at its end, 0.85 ms throughout with the array.
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
		WHERE i.id = ANY (ARRAY(SELECT id FROM picked))
		RETURNING i.id, i.job_id, i.fencing_token, i.attempt,
		          (SELECT j.organisation FROM hookrun.jobs j WHERE j.id = i.job_id) AS org
	), audited AS (
		INSERT INTO hookrun.audit_events (kind, actor, organisation, job_id, item_id, detail)
		SELECT 'item.state', p_worker, l.org, l.job_id, l.id,
		       jsonb_build_object('state', 'leased', 'attempt', l.attempt,
		                          'fencing_token', l.fencing_token)
		FROM leased l
	)
	SELECT l.id, l.job_id, l.org, l.fencing_token, l.attempt FROM leased l;
END $$;

-- release_item() as in 0005, naming who hands the item back (p_actor; without it, the item's
-- leased_by as before).
DROP FUNCTION hookrun.release_item(bigint, bigint, text);
CREATE FUNCTION hookrun.release_item(p_item_id bigint, p_token bigint, p_reason text,
                                     p_actor text DEFAULT NULL)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	done record;
BEGIN
	UPDATE hookrun.job_items SET
		state = 'queued', attempt = greatest(attempt - 1, 0), run_at = now(),
		lease_expires_at = NULL, fencing_token = NULL, updated_at = now(),
		leased_by = coalesce(p_actor, leased_by)
	WHERE id = p_item_id AND state = 'leased' AND fencing_token = p_token
	RETURNING job_id, leased_by INTO done;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	INSERT INTO hookrun.audit_events (kind, actor, organisation, job_id, item_id, detail)
	SELECT 'item.state', coalesce(done.leased_by, current_user), j.organisation, done.job_id,
	       p_item_id, jsonb_build_object('state', 'queued', 'released', p_reason)
	FROM hookrun.jobs j WHERE j.id = done.job_id;
	PERFORM pg_notify('hookrun_work', p_item_id::text);
	RETURN true;
END $$;

-- The count trigger of 0008 with one join of the transition tables instead of two: each
-- item that moved gives its +1 and its -1 from the same joined row.
CREATE OR REPLACE FUNCTION hookrun.job_items_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	d hookrun.job_item_delta[];
BEGIN
	IF TG_OP = 'INSERT' THEN
		SELECT array_agg((job_id, state, 1)::hookrun.job_item_delta) INTO d FROM new_rows;
	ELSIF TG_OP = 'DELETE' THEN
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
