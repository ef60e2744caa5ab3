-- The events the audit trail was missing.
--
-- delivery.accepted: one row per stored delivery, written in the transaction that stores it by
-- a statement trigger on deliveries (one INSERT ... SELECT per batch, COPY or statement):
-- actor source:NAME, the delivery's id, and in detail its source, how it was verified and its
-- size. A duplicate (an idempotency key seen before) stores no row and so leaves no event.
-- It costs PostgreSQL about 7 us of CPU a delivery (tests/bench/pg_keyed with the trigger on
-- and off); a digest of the body, taken here, cost as much again at 1 KiB and grows with the
-- body, so the body's digest is not part of the event.
--
-- Events the services write themselves (hookrun.record_audit_events()):
--   config.loaded      a service started with a configuration: its SHA-256 (of the
--                      effective configuration as --print-config shows it, secrets masked);
--   delivery.rejected  webhooks refused before anything was stored, one row per source,
--                      reason and period (a minute by default) with their count: a flood of
--                      bad calls adds a row a minute, not a row a call;
--   token.used         the jobs API's bearer tokens, one row per token and period with the
--                      count of uses (api_tokens.uses counts every one as it happens).
-- A service sends each batch of events with an id of its own choosing; a batch sent twice
-- (its first answer lost with the connection) is written once.

CREATE FUNCTION hookrun.deliveries_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO hookrun.audit_events (kind, actor, delivery_id, detail)
	SELECT 'delivery.accepted', 'source:' || n.source, n.id,
	       jsonb_build_object('source', n.source, 'verified_by', n.verified_by,
	                          'bytes', octet_length(n.body))
	FROM new_rows n ORDER BY n.received_at, n.id;
	RETURN NULL;
END $$;
CREATE TRIGGER deliveries_audit AFTER INSERT ON hookrun.deliveries
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
	EXECUTE FUNCTION hookrun.deliveries_audit();

-- Batches of events written by record_audit_events(), kept a week so that a batch sent again
-- after a lost answer is recognised.
CREATE TABLE hookrun.audit_batches (
	id         uuid        PRIMARY KEY,
	written_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_batches_written_at_idx ON hookrun.audit_batches (written_at);
COMMENT ON TABLE hookrun.audit_batches IS
	'Batches of audit events the services wrote (record_audit_events), for exactly-once writes';

-- Write a service's batch of events: p_events is a JSON array of objects {kind, actor,
-- organisation, at, detail}, kind one of config.loaded, delivery.rejected, token.used. The
-- number of events written: 0 when the batch was written before.
CREATE FUNCTION hookrun.record_audit_events(p_batch uuid, p_events jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_bad text;
	v_n integer;
BEGIN
	IF jsonb_typeof(p_events) IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION 'the events are a JSON array' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT e.kind INTO v_bad FROM jsonb_to_recordset(p_events) AS e(kind text, actor text)
	WHERE e.kind IS NULL OR e.kind NOT IN ('config.loaded', 'delivery.rejected', 'token.used')
	   OR e.actor IS NULL OR e.actor = '' LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'a service may not record an event of kind % (or without an actor)',
			coalesce(v_bad, 'NULL') USING ERRCODE = 'invalid_parameter_value';
	END IF;
	INSERT INTO hookrun.audit_batches (id) VALUES (p_batch) ON CONFLICT DO NOTHING;
	IF NOT FOUND THEN
		RETURN 0;
	END IF;
	INSERT INTO hookrun.audit_events (at, kind, actor, organisation, detail)
	SELECT coalesce(e.at, clock_timestamp()), e.kind, e.actor, e.organisation,
	       coalesce(e.detail, '{}')
	FROM jsonb_to_recordset(p_events)
	     AS e(kind text, actor text, organisation text, at timestamptz, detail jsonb);
	GET DIAGNOSTICS v_n = ROW_COUNT;
	DELETE FROM hookrun.audit_batches WHERE written_at < now() - interval '7 days';
	RETURN v_n;
END $$;
