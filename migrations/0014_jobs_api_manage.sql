-- The rest of the jobs API's reads and its two actions: GET /v1/jobs (a page of jobs),
-- GET /v1/jobs/{id}/items (a page of a job's items), POST /v1/jobs/{id}/cancel and
-- POST /v1/jobs/{id}/retry. Every function takes the caller's organisations and acts only on
-- their jobs: a job of another organisation is absent (NULL), never "forbidden".

-- A retry starts the age a job's items may reach (max_item_age) again.
ALTER TABLE hookrun.jobs ADD COLUMN retried_at timestamptz;
COMMENT ON COLUMN hookrun.jobs.retried_at IS
	'the last retry of its failed items (hookrun.retry_job); item age counts from here';

-- load_items() as in 0011, with the job's age counted from its last retry.
CREATE OR REPLACE FUNCTION hookrun.load_items(p_items bigint[], p_tokens bigint[])
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
	       greatest(0, floor(extract(epoch FROM now() - coalesce(j.retried_at, j.created_at))
	                         * 1000))::bigint,
	       j.delivery_id
	FROM unnest(p_items, p_tokens) AS r(id, token)
	JOIN hookrun.job_items i ON i.id = r.id AND i.state = 'leased' AND i.fencing_token = r.token
	JOIN hookrun.jobs j ON j.id = i.job_id;
END $$;

-- One job's summary as the lists show it (job_json() without parameters).
CREATE FUNCTION hookrun.job_summary_json(j hookrun.jobs)
RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_strip_nulls(jsonb_build_object(
		'id', j.id, 'kind', j.kind, 'organisation', j.organisation, 'state', j.state,
		'submitted_by', j.submitted_by, 'delivery_id', j.delivery_id,
		'created_at', j.created_at, 'started_at', j.started_at, 'finished_at', j.finished_at,
		'items', jsonb_build_object('total', j.items_total, 'queued', j.items_queued,
		                            'running', j.items_leased,
		                            'succeeded', j.items_succeeded,
		                            'failed', j.items_failed,
		                            'cancelled', j.items_cancelled)));
$$;

-- A page of the caller's jobs, newest first, optionally of one state, kind or organisation:
-- {"jobs": [...], "next_cursor": id or absent}. p_cursor is the last id of the page before.
CREATE FUNCTION hookrun.jobs_page(p_organisations text[], p_state text, p_kind text,
                                  p_organisation text, p_limit integer, p_cursor uuid)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_after hookrun.jobs;
	v_rows jsonb;
	v_n integer;
	v_last uuid;
BEGIN
	IF p_cursor IS NOT NULL THEN
		SELECT * INTO v_after FROM hookrun.jobs WHERE id = p_cursor;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'unknown cursor' USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END IF;
	SELECT coalesce(jsonb_agg(hookrun.job_summary_json(j) ORDER BY j.created_at DESC, j.id DESC),
	                '[]'),
	       count(*), (array_agg(j.id ORDER BY j.created_at DESC, j.id DESC))[count(*)::integer]
	INTO v_rows, v_n, v_last
	FROM (SELECT * FROM hookrun.jobs j
	      WHERE j.organisation = ANY (p_organisations)
	        AND (p_state IS NULL OR j.state = p_state)
	        AND (p_kind IS NULL OR j.kind = p_kind)
	        AND (p_organisation IS NULL OR j.organisation = p_organisation)
	        AND (p_cursor IS NULL OR (j.created_at, j.id) < (v_after.created_at, v_after.id))
	      ORDER BY j.created_at DESC, j.id DESC LIMIT p_limit) j;
	RETURN jsonb_strip_nulls(jsonb_build_object(
		'jobs', v_rows, 'next_cursor', CASE WHEN v_n = p_limit THEN v_last END));
END $$;

-- A page of one job's items in id order, optionally of one state:
-- {"items": [...], "next_cursor": id or absent}; NULL when the job is not the caller's.
CREATE FUNCTION hookrun.job_items_page(p_job uuid, p_organisations text[], p_state text,
                                       p_limit integer, p_cursor bigint)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_rows jsonb;
	v_n integer;
	v_last bigint;
BEGIN
	PERFORM 1 FROM hookrun.jobs WHERE id = p_job AND organisation = ANY (p_organisations);
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
	           'id', i.id, 'external_id', i.external_id, 'state', i.state,
	           'attempt', i.attempt, 'run_at', i.run_at, 'updated_at', i.updated_at,
	           'last_error', i.last_error, 'result', i.result)) ORDER BY i.id), '[]'),
	       count(*), max(i.id)
	INTO v_rows, v_n, v_last
	FROM (SELECT * FROM hookrun.job_items i
	      WHERE i.job_id = p_job AND (p_state IS NULL OR i.state = p_state)
	        AND i.id > coalesce(p_cursor, 0)
	      ORDER BY i.id LIMIT p_limit) i;
	RETURN jsonb_strip_nulls(jsonb_build_object(
		'items', v_rows, 'next_cursor', CASE WHEN v_n = p_limit THEN v_last END));
END $$;

-- Cancel a job: its queued items become cancelled (items in flight finish). The job as
-- job_json() shows it with "changed" (items cancelled now), or NULL when it is not the
-- caller's. A job.cancelled audit row names who asked.
CREATE FUNCTION hookrun.cancel_job(p_job uuid, p_organisations text[], p_by text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	v_org text;
	v_n bigint;
BEGIN
	-- No lock on the job first: the item updates below lock items, then (the count trigger)
	-- the job, in the order claims and settlements take them, so neither waits in a cycle.
	SELECT organisation INTO v_org FROM hookrun.jobs
	WHERE id = p_job AND organisation = ANY (p_organisations);
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	WITH c AS (
		UPDATE hookrun.job_items SET state = 'cancelled', updated_at = now()
		WHERE id = ANY (ARRAY(SELECT id FROM hookrun.job_items
		                      WHERE job_id = p_job AND state = 'queued'))
		  AND state = 'queued'
		RETURNING 1)
	SELECT count(*) INTO v_n FROM c;
	INSERT INTO hookrun.audit_events (kind, actor, organisation, job_id, detail)
	VALUES ('job.cancelled', p_by, v_org, p_job, jsonb_build_object('items', v_n));
	RETURN hookrun.job_json(p_job, p_organisations) || jsonb_build_object('changed', v_n);
END $$;

-- Retry a job's failed items: queued again, due now, their attempts counted afresh, and the
-- job's age for max_item_age counted from now. As cancel_job() answers; a job.retried audit
-- row; the dispatchers are woken.
CREATE FUNCTION hookrun.retry_job(p_job uuid, p_organisations text[], p_by text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	v_org text;
	v_n bigint;
BEGIN
	-- No lock on the job first: the item updates below lock items, then (the count trigger)
	-- the job, in the order claims and settlements take them, so neither waits in a cycle.
	SELECT organisation INTO v_org FROM hookrun.jobs
	WHERE id = p_job AND organisation = ANY (p_organisations);
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	WITH r AS (
		UPDATE hookrun.job_items SET state = 'queued', attempt = 0, run_at = now(),
		                             last_error = NULL, updated_at = now()
		WHERE id = ANY (ARRAY(SELECT id FROM hookrun.job_items
		                      WHERE job_id = p_job AND state = 'failed'))
		  AND state = 'failed'
		RETURNING 1)
	SELECT count(*) INTO v_n FROM r;
	IF v_n > 0 THEN
		UPDATE hookrun.jobs SET retried_at = now() WHERE id = p_job;
		PERFORM pg_notify('hookrun_work', p_job::text);
	END IF;
	INSERT INTO hookrun.audit_events (kind, actor, organisation, job_id, detail)
	VALUES ('job.retried', p_by, v_org, p_job, jsonb_build_object('items', v_n));
	RETURN hookrun.job_json(p_job, p_organisations) || jsonb_build_object('changed', v_n);
END $$;
