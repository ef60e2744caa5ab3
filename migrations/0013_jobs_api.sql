-- The jobs API (POST /v1/jobs, GET /v1/jobs/{id}). A job submitted over HTTP records the
-- SHA-256 of the request body that made it, so that the same Idempotency-Key sent again with
-- another body is told apart (409) from a retry of the same request (the first job).
ALTER TABLE hookrun.jobs ADD COLUMN request_sha256 bytea;
COMMENT ON COLUMN hookrun.jobs.request_sha256 IS
	'SHA-256 of the HTTP request body that submitted the job (jobs API), else NULL';

-- submit_job() for an HTTP request whose body hashes to p_hash: created (the hash recorded),
-- or the job an earlier request with the same submitter and key made, with conflict true
-- when that request's body was another.
CREATE FUNCTION hookrun.submit_job_request(p_kind text, p_organisation text, p_parameters jsonb,
                                           p_items jsonb, p_submitted_by text,
                                           p_idempotency_key text, p_hash bytea,
                                           OUT job_id uuid, OUT created boolean,
                                           OUT conflict boolean)
LANGUAGE plpgsql AS $$
BEGIN
	SELECT s.job_id, s.created INTO job_id, created
	FROM hookrun.submit_job(p_kind, p_organisation, p_parameters, p_items, p_submitted_by,
	                        p_idempotency_key) s;
	IF created THEN
		UPDATE hookrun.jobs SET request_sha256 = p_hash WHERE id = job_id;
		conflict := false;
	ELSE
		SELECT j.request_sha256 IS DISTINCT FROM p_hash INTO conflict
		FROM hookrun.jobs j WHERE j.id = job_id;
	END IF;
END $$;

-- One job as the jobs API shows it, if its organisation is among p_organisations: state,
-- counts, timings, and while it runs the rate (items settled a second since it started) and
-- the seconds left at that rate.
CREATE FUNCTION hookrun.job_json(p_id uuid, p_organisations text[])
RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_strip_nulls(jsonb_build_object(
		'id', j.id, 'kind', j.kind, 'organisation', j.organisation, 'state', j.state,
		'submitted_by', j.submitted_by, 'delivery_id', j.delivery_id,
		'parameters', j.parameters,
		'created_at', j.created_at, 'started_at', j.started_at, 'finished_at', j.finished_at,
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
