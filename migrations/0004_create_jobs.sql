-- Jobs: work against the Versori API, submitted by any producer through hookrun.submit_job()
-- and carried out item by item by workers that claim items with a lease and a fencing token.
--
-- A job is the request ("provision these 10,000 end users in this environment"); an item is
-- one end user's part of it, converged independently and retried on its own. Every state is
-- text with a CHECK, so that SQL reads as what it means. Item state changes go through the
-- functions below; a statement-level trigger keeps each job's counts and state right for any
-- UPDATE, the functions' and an operator's alike.

CREATE TABLE hookrun.jobs (
	id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
	kind            text        NOT NULL
	                CHECK (kind IN ('activation.provision', 'activation.variables',
	                                'environment.variables', 'activation.remove')),
	organisation    text        NOT NULL,              -- [versori.NAME] the work runs against
	parameters      jsonb       NOT NULL DEFAULT '{}', -- environment, flavour, options
	state           text        NOT NULL DEFAULT 'queued'
	                CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
	items_total     integer     NOT NULL DEFAULT 0 CHECK (items_total >= 0),
	items_queued    integer     NOT NULL DEFAULT 0 CHECK (items_queued >= 0),
	items_leased    integer     NOT NULL DEFAULT 0 CHECK (items_leased >= 0),
	items_succeeded integer     NOT NULL DEFAULT 0 CHECK (items_succeeded >= 0),
	items_failed    integer     NOT NULL DEFAULT 0 CHECK (items_failed >= 0),
	items_cancelled integer     NOT NULL DEFAULT 0 CHECK (items_cancelled >= 0),
	submitted_by    text        NOT NULL,              -- 'source:NAME', 'token:ID', 'cli', a role
	idempotency_key text,                              -- per submitter; NULL: none
	delivery_id     uuid,                              -- hookrun.deliveries.id it came from
	created_at      timestamptz NOT NULL DEFAULT now(),
	started_at      timestamptz,                       -- first item leased
	finished_at     timestamptz,                       -- no item queued or leased any more
	CHECK (items_total = items_queued + items_leased + items_succeeded + items_failed +
	                     items_cancelled),
	UNIQUE (submitted_by, idempotency_key)
);
CREATE INDEX jobs_created_idx ON hookrun.jobs (created_at);
CREATE INDEX jobs_delivery_idx ON hookrun.jobs (delivery_id) WHERE delivery_id IS NOT NULL;
COMMENT ON TABLE hookrun.jobs IS
	'Work against the Versori API; created only by hookrun.submit_job(); counts kept by trigger';

CREATE TABLE hookrun.job_items (
	id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	job_id           uuid        NOT NULL REFERENCES hookrun.jobs (id),
	external_id      text        NOT NULL CHECK (external_id <> ''), -- the end user
	desired          jsonb       NOT NULL DEFAULT '{}', -- displayName, variables, connections
	state            text        NOT NULL DEFAULT 'queued'
	                 CHECK (state IN ('queued', 'leased', 'succeeded', 'failed', 'cancelled')),
	attempt          integer     NOT NULL DEFAULT 0 CHECK (attempt >= 0),
	run_at           timestamptz NOT NULL DEFAULT now(), -- not before (backoff, Retry-After)
	lease_expires_at timestamptz,                       -- set while leased
	fencing_token    bigint,                            -- the current lease's; NULL if none
	leased_by        text,                              -- worker holding or last holding it
	last_error       text,
	result           jsonb,                             -- user id, activation id, ...
	updated_at       timestamptz NOT NULL DEFAULT now(),
	UNIQUE (job_id, external_id),
	CHECK ((state = 'leased') = (lease_expires_at IS NOT NULL AND fencing_token IS NOT NULL))
);
-- What a dispatcher reads: runnable items by due time, and leases by expiry.
CREATE INDEX job_items_runnable_idx ON hookrun.job_items (run_at) WHERE state = 'queued';
CREATE INDEX job_items_leased_idx ON hookrun.job_items (lease_expires_at) WHERE state = 'leased';
CREATE INDEX job_items_job_state_idx ON hookrun.job_items (job_id, state);

-- Fencing tokens: every lease takes a new one, so a completion from an earlier lease of the
-- same item (a worker that stalled past its lease) cannot match.
CREATE SEQUENCE hookrun.fencing_tokens;

-- What happened, for people and auditors: one row per item state change and per outbound
-- API call, with the ids that join it to jobs, items and deliveries. Sealing, append-only
-- enforcement and the views come with the audit trail; rows are written from the start.
CREATE TABLE hookrun.audit_events (
	id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at          timestamptz NOT NULL DEFAULT clock_timestamp(),
	kind        text        NOT NULL,   -- 'job.submitted', 'item.state', 'api.call', ...
	actor       text        NOT NULL,   -- who: a worker, a source, a token, a role
	organisation text,
	job_id      uuid,
	item_id     bigint,
	delivery_id uuid,
	detail      jsonb       NOT NULL DEFAULT '{}' -- never a secret
);
CREATE INDEX audit_events_job_idx ON hookrun.audit_events (job_id, id) WHERE job_id IS NOT NULL;
CREATE INDEX audit_events_item_idx ON hookrun.audit_events (item_id, id) WHERE item_id IS NOT NULL;

-- Keep jobs.items_* and jobs.state/started_at/finished_at right for any change to items:
-- one UPDATE per affected job per statement, from the statement's transition tables.
CREATE TYPE hookrun.job_item_delta AS (job_id uuid, state text, n integer);

CREATE FUNCTION hookrun.job_items_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	d hookrun.job_item_delta[];
BEGIN
	IF TG_OP = 'INSERT' THEN
		SELECT array_agg((job_id, state, 1)::hookrun.job_item_delta) INTO d FROM new_rows;
	ELSIF TG_OP = 'DELETE' THEN
		SELECT array_agg((job_id, state, -1)::hookrun.job_item_delta) INTO d FROM old_rows;
	ELSE
		SELECT array_agg(x) INTO d FROM (
			SELECT (job_id, state, 1)::hookrun.job_item_delta AS x FROM new_rows
			UNION ALL
			SELECT (job_id, state, -1)::hookrun.job_item_delta FROM old_rows) u;
	END IF;
	-- Each job's row is locked in id order before any is changed, so that two transactions
	-- touching the same jobs queue behind each other instead of deadlocking. Transactions
	-- changing items of one job serialize on its row for the rest of their (short) life:
	-- claims and completions run at the API's pace, tens per second per job, not thousands.
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

CREATE TRIGGER job_items_count_insert AFTER INSERT ON hookrun.job_items
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION hookrun.job_items_count();
CREATE TRIGGER job_items_count_update AFTER UPDATE ON hookrun.job_items
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION hookrun.job_items_count();
CREATE TRIGGER job_items_count_delete AFTER DELETE ON hookrun.job_items
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION hookrun.job_items_count();

-- A job's state follows its counts: running once an item was leased, finished when nothing
-- is queued or leased (failed when any item failed, else cancelled when any was cancelled).
CREATE FUNCTION hookrun.jobs_settle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.items_leased > 0 AND NEW.started_at IS NULL THEN
		NEW.started_at := now();
	END IF;
	IF NEW.items_total > 0 AND NEW.items_queued + NEW.items_leased = 0 THEN
		NEW.state := CASE WHEN NEW.items_failed > 0 THEN 'failed'
		                  WHEN NEW.items_cancelled > 0 THEN 'cancelled'
		                  ELSE 'succeeded' END;
		NEW.finished_at := coalesce(NEW.finished_at, now());
	ELSIF NEW.items_queued + NEW.items_leased > 0 THEN
		NEW.state := CASE WHEN NEW.started_at IS NULL THEN 'queued' ELSE 'running' END;
		NEW.finished_at := NULL;
	END IF;
	RETURN NEW;
END $$;

CREATE TRIGGER jobs_settle BEFORE UPDATE OF items_queued, items_leased, items_succeeded,
	items_failed, items_cancelled ON hookrun.jobs
	FOR EACH ROW EXECUTE FUNCTION hookrun.jobs_settle();

-- The one way to create work (routing, the CLI, the jobs API, an operator in psql): the job
-- and its items in one transaction, and a wake-up for the dispatchers at commit.
--
-- items is a JSON array of objects, each with "externalId" (required, unique in the job) and
-- anything else the kind needs ("displayName", "variables", ...), stored as the item's
-- desired state. With an idempotency key, a second submission by the same submitter returns
-- the first job (created = false) without looking at the rest. Errors name the item.
CREATE FUNCTION hookrun.submit_job(p_kind text, p_organisation text, p_parameters jsonb,
                                   p_items jsonb, p_submitted_by text,
                                   p_idempotency_key text DEFAULT NULL,
                                   p_delivery_id uuid DEFAULT NULL,
                                   OUT job_id uuid, OUT created boolean)
LANGUAGE plpgsql AS $$
DECLARE
	bad record;
BEGIN
	IF jsonb_typeof(p_items) IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION 'items must be a JSON array' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF p_idempotency_key IS NOT NULL THEN
		SELECT j.id INTO job_id FROM hookrun.jobs j
		WHERE j.submitted_by = p_submitted_by AND j.idempotency_key = p_idempotency_key;
		IF FOUND THEN
			created := false;
			RETURN;
		END IF;
	END IF;
	SELECT ord, e INTO bad FROM jsonb_array_elements(p_items) WITH ORDINALITY AS t(e, ord)
	WHERE jsonb_typeof(e) <> 'object' OR jsonb_typeof(e -> 'externalId') IS DISTINCT FROM 'string'
	   OR e ->> 'externalId' = ''
	ORDER BY ord LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'item %: an object with a non-empty "externalId" string is required',
			bad.ord USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT ext, ord INTO bad FROM (
		SELECT e ->> 'externalId' AS ext, ord,
		       row_number() OVER (PARTITION BY e ->> 'externalId' ORDER BY ord) AS nth
		FROM jsonb_array_elements(p_items) WITH ORDINALITY AS t(e, ord)) d
	WHERE nth = 2 ORDER BY ord LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'item %: externalId "%" appears earlier in the job', bad.ord,
			bad.ext USING ERRCODE = 'unique_violation';
	END IF;
	INSERT INTO hookrun.jobs (kind, organisation, parameters, submitted_by, idempotency_key,
	                          delivery_id)
	VALUES (p_kind, p_organisation, coalesce(p_parameters, '{}'), p_submitted_by,
	        p_idempotency_key, p_delivery_id)
	ON CONFLICT (submitted_by, idempotency_key) DO NOTHING
	RETURNING id INTO job_id;
	IF job_id IS NULL THEN -- a concurrent submission with the same key committed first
		SELECT j.id INTO job_id FROM hookrun.jobs j
		WHERE j.submitted_by = p_submitted_by AND j.idempotency_key = p_idempotency_key;
		created := false;
		RETURN;
	END IF;
	INSERT INTO hookrun.job_items (job_id, external_id, desired)
	SELECT submit_job.job_id, e ->> 'externalId', e - 'externalId'
	FROM jsonb_array_elements(p_items) WITH ORDINALITY AS t(e, ord) ORDER BY ord;
	INSERT INTO hookrun.audit_events (kind, actor, organisation, job_id, delivery_id, detail)
	VALUES ('job.submitted', p_submitted_by, p_organisation, submit_job.job_id, p_delivery_id,
	        jsonb_build_object('kind', p_kind, 'items', jsonb_array_length(p_items)));
	PERFORM pg_notify('hookrun_work', submit_job.job_id::text);
	created := true;
END $$;

-- Lease up to p_limit runnable items: queued and due, or leased with an expired lease (a
-- worker that stalled or died; its item goes back to work and its token stops counting).
-- Each gets a new fencing token; attempt counts leases. Concurrent callers skip each
-- other's rows (SKIP LOCKED), so any number of dispatchers can share one database.
CREATE FUNCTION hookrun.claim_items(p_limit integer, p_lease interval, p_worker text)
RETURNS TABLE (item_id bigint, job_id uuid, fencing_token bigint, attempt integer)
LANGUAGE sql AS $$
	WITH due AS (
		SELECT i.id FROM hookrun.job_items i
		WHERE i.state = 'queued' AND i.run_at <= now()
		ORDER BY i.run_at LIMIT p_limit FOR UPDATE SKIP LOCKED
	), expired AS (
		SELECT i.id FROM hookrun.job_items i
		WHERE i.state = 'leased' AND i.lease_expires_at < now()
		ORDER BY i.lease_expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED
	), picked AS (
		SELECT id FROM (SELECT id, 0 AS o FROM expired UNION ALL SELECT id, 1 FROM due) u
		ORDER BY o LIMIT p_limit
	), leased AS (
		UPDATE hookrun.job_items i SET
			state = 'leased', attempt = i.attempt + 1, lease_expires_at = now() + p_lease,
			fencing_token = nextval('hookrun.fencing_tokens'), leased_by = p_worker,
			updated_at = now()
		FROM picked WHERE i.id = picked.id
		RETURNING i.id, i.job_id, i.fencing_token, i.attempt
	), audited AS (
		INSERT INTO hookrun.audit_events (kind, actor, job_id, item_id, detail)
		SELECT 'item.state', p_worker, l.job_id, l.id,
		       jsonb_build_object('state', 'leased', 'attempt', l.attempt,
		                          'fencing_token', l.fencing_token)
		FROM leased l
	)
	SELECT id, job_id, fencing_token, attempt FROM leased;
$$;

-- Settle a leased item, only if the caller still holds its lease (p_token). p_state is
-- 'succeeded', 'failed' (for good) or 'queued' (try again at p_run_at). false when the
-- token no longer matches: the lease expired and the item was claimed again, or settled.
CREATE FUNCTION hookrun.complete_item(p_item_id bigint, p_token bigint, p_state text,
                                      p_result jsonb DEFAULT NULL, p_error text DEFAULT NULL,
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
	INSERT INTO hookrun.audit_events (kind, actor, job_id, item_id, detail)
	VALUES ('item.state', coalesce(done.leased_by, current_user), done.job_id, p_item_id,
	        jsonb_strip_nulls(jsonb_build_object('state', p_state, 'attempt', done.attempt,
	                                             'error', p_error)));
	IF p_state = 'queued' THEN
		PERFORM pg_notify('hookrun_work', p_item_id::text);
	END IF;
	RETURN true;
END $$;

-- Extend a lease the caller still holds (a long convergence); false when it no longer does.
CREATE FUNCTION hookrun.renew_lease(p_item_id bigint, p_token bigint, p_lease interval)
RETURNS boolean LANGUAGE sql AS $$
	WITH r AS (
		UPDATE hookrun.job_items SET lease_expires_at = now() + p_lease, updated_at = now()
		WHERE id = p_item_id AND state = 'leased' AND fencing_token = p_token
		RETURNING 1)
	SELECT EXISTS (SELECT 1 FROM r);
$$;
