-- Bulk submissions streamed into PostgreSQL. The jobs API used to send a job's items as one
-- jsonb parameter (hookrun.submit_job_request): the ingress held the items' text next to the
-- request's body, libpq a copy of that text, and the server the whole document. Now one
-- simple query carries a submission, in one transaction:
--
--   SELECT job_id, created, conflict FROM hookrun.submit_job_open(...);
--   COPY hookrun.job_items (job_id, external_id, desired) FROM STDIN (FORMAT csv)
--
-- submit_job_open() makes the job (or finds the one its Idempotency-Key made before), then the
-- ingress streams the items, a chunk at a time, straight into job_items under the new job's
-- id: the count trigger sets the job's counts once, at the end of the COPY, and the commit
-- makes job and items visible together. Nothing is staged twice: job_items is the staging
-- table, and a failed COPY rolls the job back with it.

-- The job of a jobs API submission of p_items items whose body hashes to p_hash, without its
-- items (the COPY that follows brings them): created, or the job an earlier request with the
-- same submitter and key made (created false), with conflict true when that request's body
-- was another. A job.submitted audit row and a wake-up for the dispatchers at commit.
CREATE FUNCTION hookrun.submit_job_open(p_kind text, p_organisation text, p_parameters jsonb,
                                        p_items bigint, p_submitted_by text,
                                        p_idempotency_key text, p_hash bytea,
                                        OUT job_id uuid, OUT created boolean,
                                        OUT conflict boolean)
LANGUAGE plpgsql AS $$
BEGIN
	created := false;
	IF p_idempotency_key IS NOT NULL THEN
		SELECT j.id, j.request_sha256 IS DISTINCT FROM p_hash INTO job_id, conflict
		FROM hookrun.jobs j
		WHERE j.submitted_by = p_submitted_by AND j.idempotency_key = p_idempotency_key;
		IF FOUND THEN
			RETURN;
		END IF;
	END IF;
	INSERT INTO hookrun.jobs (kind, organisation, parameters, submitted_by, idempotency_key,
	                          request_sha256)
	VALUES (p_kind, p_organisation, coalesce(p_parameters, '{}'), p_submitted_by,
	        p_idempotency_key, p_hash)
	ON CONFLICT (submitted_by, idempotency_key) DO NOTHING
	RETURNING id INTO job_id;
	IF job_id IS NULL THEN -- a concurrent submission with the same key committed first
		SELECT j.id, j.request_sha256 IS DISTINCT FROM p_hash INTO job_id, conflict
		FROM hookrun.jobs j
		WHERE j.submitted_by = p_submitted_by AND j.idempotency_key = p_idempotency_key;
		RETURN;
	END IF;
	INSERT INTO hookrun.audit_events (kind, actor, organisation, job_id, detail)
	VALUES ('job.submitted', p_submitted_by, p_organisation, job_id,
	        jsonb_build_object('kind', p_kind, 'items', p_items));
	PERFORM pg_notify('hookrun_work', job_id::text);
	created := true;
	conflict := false;
END $$;
