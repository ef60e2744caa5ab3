-- Completion callbacks: a job whose parameters name a "callbackUrl" gets, each time it
-- finishes (succeeded, failed or cancelled; again after a retry finishes it once more), a
-- one-item job of kind 'job.callback' in its organisation. A worker POSTs the item's event to
-- the URL, signed the Standard Webhooks way with the organisation's callback_secret, and the
-- item is retried like any other (backoff, attempts, leases, audit rows). The callback job is
-- made in the transaction that finishes the job, so a finish is never without its callback.

ALTER TABLE hookrun.jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE hookrun.jobs ADD CONSTRAINT jobs_kind_check
	CHECK (kind IN ('activation.provision', 'activation.variables', 'environment.variables',
	                'activation.remove', 'job.callback'));

-- The event a finished job's callback carries ({"type", "timestamp", "data"}), and the
-- webhook-id its every delivery attempt sends ("job_<id>_<finish in ms>": the same on retries
-- of one finish, another after the job is retried and finishes again).
CREATE FUNCTION hookrun.job_finished_event(j hookrun.jobs, OUT id text, OUT event jsonb)
LANGUAGE sql STABLE AS $$
	SELECT 'job_' || j.id || '_' || floor(extract(epoch FROM j.finished_at) * 1000)::bigint,
	       jsonb_build_object(
	           'type', 'job.finished',
	           'timestamp', to_char(j.finished_at AT TIME ZONE 'UTC',
	                                'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
	           'data', jsonb_strip_nulls(jsonb_build_object(
	               'job_id', j.id, 'kind', j.kind, 'organisation', j.organisation,
	               'state', j.state, 'submitted_by', j.submitted_by,
	               'delivery_id', j.delivery_id,
	               'items', jsonb_build_object('total', j.items_total,
	                                           'succeeded', j.items_succeeded,
	                                           'failed', j.items_failed,
	                                           'cancelled', j.items_cancelled),
	               'created_at', j.created_at, 'started_at', j.started_at,
	               'finished_at', j.finished_at)));
$$;

-- A job just finished and names a callback URL: submit its callback job.
CREATE FUNCTION hookrun.jobs_callback() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	e record;
BEGIN
	SELECT * INTO e FROM hookrun.job_finished_event(NEW);
	PERFORM hookrun.submit_job(
		'job.callback', NEW.organisation,
		jsonb_build_object('url', NEW.parameters ->> 'callbackUrl', 'job_id', NEW.id),
		jsonb_build_array(jsonb_build_object('externalId', e.id, 'event', e.event)),
		'hookrun', 'callback:' || e.id);
	RETURN NULL;
END $$;

CREATE TRIGGER jobs_callback AFTER UPDATE ON hookrun.jobs
	FOR EACH ROW
	WHEN (OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL
	      AND NEW.kind <> 'job.callback'
	      AND jsonb_typeof(NEW.parameters -> 'callbackUrl') = 'string')
	EXECUTE FUNCTION hookrun.jobs_callback();
