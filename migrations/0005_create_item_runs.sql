-- Running items: fair claiming across jobs and organisations, and the functions a worker
-- calls around one run of an item (load it under its lease, settle it with the record of
-- every API call it made, or hand it back untouched).

-- Claims go job by job: each claim takes at most its share of the limit from every job with
-- queued items, webhook jobs (those with a delivery) first, so one item from a webhook is not
-- queued behind a bulk job of 20,000. Organisations the dispatcher holds back (paused after a
-- 429, or at their concurrency cap) are skipped. The organisation comes back with each item
-- so the dispatcher can count what is in flight for it.
DROP FUNCTION hookrun.claim_items(integer, interval, text);

CREATE INDEX job_items_job_runnable_idx ON hookrun.job_items (job_id, run_at)
	WHERE state = 'queued';
CREATE INDEX jobs_open_idx ON hookrun.jobs (created_at) WHERE items_queued > 0;

CREATE FUNCTION hookrun.claim_items(p_limit integer, p_lease interval, p_worker text,
                                    p_skip_organisations text[] DEFAULT '{}')
RETURNS TABLE (item_id bigint, job_id uuid, organisation text, fencing_token bigint,
               attempt integer)
LANGUAGE sql AS $$
	WITH expired AS (
		SELECT i.id, 0 AS rn, 0::bigint AS jrank FROM hookrun.job_items i
		WHERE i.state = 'leased' AND i.lease_expires_at < now()
		  AND NOT EXISTS (SELECT 1 FROM hookrun.jobs j WHERE j.id = i.job_id
		                  AND j.organisation = ANY (p_skip_organisations))
		ORDER BY i.lease_expires_at LIMIT p_limit FOR UPDATE OF i SKIP LOCKED
	), open AS (
		SELECT j.id,
		       row_number() OVER (ORDER BY (j.delivery_id IS NULL), j.created_at) AS jrank,
		       count(*) OVER () AS njobs
		FROM hookrun.jobs j
		WHERE j.items_queued > 0 AND NOT (j.organisation = ANY (p_skip_organisations))
	), due AS (
		SELECT d.id, d.run_at, o.id AS job, o.jrank FROM open o CROSS JOIN LATERAL (
			SELECT i.id, i.run_at FROM hookrun.job_items i
			WHERE i.job_id = o.id AND i.state = 'queued' AND i.run_at <= now()
			ORDER BY i.run_at, i.id
			LIMIT greatest(1, ceil(p_limit::numeric / o.njobs))::integer
			FOR UPDATE SKIP LOCKED) d
	), picked AS (
		SELECT id FROM (
			SELECT id, 0 AS o, rn, jrank FROM expired
			UNION ALL
			SELECT id, 1, row_number() OVER (PARTITION BY job ORDER BY run_at, id), jrank
			FROM due) u
		ORDER BY o, rn, jrank LIMIT p_limit
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
$$;

-- What a worker needs to run an item it was sent, if its token still holds the lease: the
-- job's kind, organisation and parameters, the item's target and desired state, the lease
-- time left and how long the item has been due. Records the worker as the item's holder.
-- No row when the lease is gone (expired and claimed again, or settled).
CREATE FUNCTION hookrun.load_item(p_item_id bigint, p_token bigint, p_worker text)
RETURNS TABLE (job_id uuid, kind text, organisation text, parameters jsonb, external_id text,
               desired jsonb, attempt integer, lease_ms bigint, due_ms bigint,
               job_age_ms bigint, delivery_id uuid)
LANGUAGE sql AS $$
	WITH held AS (
		UPDATE hookrun.job_items SET leased_by = p_worker
		WHERE id = p_item_id AND state = 'leased' AND fencing_token = p_token
		RETURNING id, job_id, external_id, desired, attempt, lease_expires_at, run_at
	)
	SELECT h.job_id, j.kind, j.organisation, j.parameters, h.external_id, h.desired, h.attempt,
	       greatest(0, floor(extract(epoch FROM h.lease_expires_at - now()) * 1000))::bigint,
	       greatest(0, floor(extract(epoch FROM now() - h.run_at) * 1000))::bigint,
	       greatest(0, floor(extract(epoch FROM now() - j.created_at) * 1000))::bigint,
	       j.delivery_id
	FROM held h JOIN hookrun.jobs j ON j.id = h.job_id;
$$;

-- Settle an item after a run: record every API call the run made (p_calls, a JSON array of
-- call objects, each becoming one 'api.call' audit row, whether or not the lease still
-- holds: the calls happened), then complete_item(). false when the lease was lost.
CREATE FUNCTION hookrun.finish_item(p_item_id bigint, p_token bigint, p_state text,
                                    p_result jsonb, p_error text, p_run_at timestamptz,
                                    p_calls jsonb)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	IF jsonb_typeof(coalesce(p_calls, '[]')) <> 'array' THEN
		RAISE EXCEPTION 'calls must be a JSON array' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	INSERT INTO hookrun.audit_events (at, kind, actor, organisation, job_id, item_id,
	                                  delivery_id, detail)
	SELECT coalesce((c ->> 'at')::timestamptz, clock_timestamp()), 'api.call',
	       coalesce(i.leased_by, current_user), j.organisation, i.job_id, i.id, j.delivery_id,
	       c - 'at'
	FROM hookrun.job_items i JOIN hookrun.jobs j ON j.id = i.job_id,
	     jsonb_array_elements(coalesce(p_calls, '[]')) AS c
	WHERE i.id = p_item_id
	ORDER BY (c ->> 'at');
	RETURN hookrun.complete_item(p_item_id, p_token, p_state, p_result, p_error, p_run_at);
END $$;

-- Hand a leased item back without counting an attempt (a task that could not be sent, a
-- worker stopping before it started the item): queued and due now. false when the lease
-- was lost already.
CREATE FUNCTION hookrun.release_item(p_item_id bigint, p_token bigint, p_reason text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	done record;
BEGIN
	UPDATE hookrun.job_items SET
		state = 'queued', attempt = greatest(attempt - 1, 0), run_at = now(),
		lease_expires_at = NULL, fencing_token = NULL, updated_at = now()
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

-- complete_item() as in 0004, with the organisation on its audit row.
CREATE OR REPLACE FUNCTION hookrun.complete_item(p_item_id bigint, p_token bigint, p_state text,
                                                 p_result jsonb DEFAULT NULL,
                                                 p_error text DEFAULT NULL,
                                                 p_run_at timestamptz DEFAULT NULL)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	done record;
BEGIN
	IF p_state NOT IN ('succeeded', 'failed', 'queued') THEN
		RAISE EXCEPTION 'an item is completed as succeeded, failed or queued, not %', p_state
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	UPDATE hookrun.job_items SET
		state = p_state, result = coalesce(p_result, result), last_error = p_error,
		run_at = CASE WHEN p_state = 'queued' THEN coalesce(p_run_at, now()) ELSE run_at END,
		lease_expires_at = NULL, fencing_token = NULL, updated_at = now()
	WHERE id = p_item_id AND state = 'leased' AND fencing_token = p_token
	RETURNING job_id, leased_by, attempt INTO done;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	INSERT INTO hookrun.audit_events (kind, actor, organisation, job_id, item_id, detail)
	SELECT 'item.state', coalesce(done.leased_by, current_user), j.organisation, done.job_id,
	       p_item_id, jsonb_strip_nulls(jsonb_build_object('state', p_state,
	                                                       'attempt', done.attempt,
	                                                       'error', p_error))
	FROM hookrun.jobs j WHERE j.id = done.job_id;
	IF p_state = 'queued' THEN
		PERFORM pg_notify('hookrun_work', p_item_id::text);
	END IF;
	RETURN true;
END $$;
