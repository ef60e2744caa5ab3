-- The audit trail becomes append-only and tamper-evident.
--
-- Append-only: UPDATE, DELETE and TRUNCATE of audit_events (and of the seals below) fail for
-- every role, the owner's included; only a superuser who switches triggers off
-- (session_replication_role = replica) gets past, and the seals then show what changed.
--
-- Sealing: events are sealed in blocks, each block's SHA-256 chained to the one before.
-- A block is not a range of ids, because ids are handed out when rows are inserted and
-- transactions commit in another order: a block sealed "up to id N" could miss an event with
-- a smaller id whose transaction commits a moment later. A block is instead every event
-- written by the transactions whose ids lie in [xact_from, xact_to), and xact_to is never
-- above the oldest transaction still running when the block is sealed (the xmin of the
-- sealer's snapshot): every transaction below it has ended, so no event can join a sealed
-- block later. An event committed late simply belongs to a later block.
--
-- Each event's digest is SHA-256 over the UTF-8 text of a JSON array of its columns, as
-- PostgreSQL's json_build_array() prints it: [id, at (UTC, without a zone), kind, actor,
-- organisation, job_id, item_id, delivery_id, detail] (JSON escapes every string, so the
-- text is unambiguous; jsonb prints detail canonically; no session setting changes it).
-- A block's hash is SHA-256 over the previous block's hash (32 zero bytes for the first), the
-- event count as 8 bytes big-endian and the digests in id order. The seal keeps the ids and
-- the first 8 bytes of each digest too, so `hookrun audit verify` names the event that was
-- altered, deleted or inserted, not only the block.

-- Events written before this migration count as written by transaction 0: the first block.
ALTER TABLE hookrun.audit_events ADD COLUMN xact xid8;
UPDATE hookrun.audit_events SET xact = '0';
ALTER TABLE hookrun.audit_events ALTER COLUMN xact SET NOT NULL;
COMMENT ON COLUMN hookrun.audit_events.xact IS
	'The writing transaction (its top-level id): which seal block the event belongs to; 0 '
	'for events written before migration 0020';
CREATE INDEX audit_events_xact_idx ON hookrun.audit_events (xact, id);

-- A row names its own transaction, whatever the INSERT said: the service's role cannot slip
-- a row into a block that is sealed already (verify would report it, as an insertion) nor
-- give it a transaction id from the far future that no block would ever reach. A trigger,
-- not a default, for that; a restore (pg_restore --disable-triggers) keeps the values it
-- restores. It costs about 2 us a row.
CREATE FUNCTION hookrun.audit_events_xact() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.xact := pg_current_xact_id();
	RETURN NEW;
END $$;
CREATE TRIGGER audit_events_xact BEFORE INSERT ON hookrun.audit_events
	FOR EACH ROW EXECUTE FUNCTION hookrun.audit_events_xact();

CREATE FUNCTION hookrun.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION '%.% is append-only: % is not allowed', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
		USING ERRCODE = 'insufficient_privilege',
		      HINT = 'audit rows are never changed or removed';
END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON hookrun.audit_events
	FOR EACH ROW EXECUTE FUNCTION hookrun.audit_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON hookrun.audit_events
	FOR EACH STATEMENT EXECUTE FUNCTION hookrun.audit_append_only();

CREATE TABLE hookrun.audit_seals (
	block      bigint      PRIMARY KEY CHECK (block >= 1),
	xact_from  xid8        NOT NULL,          -- the block's transactions: [xact_from, xact_to)
	xact_to    xid8        NOT NULL CHECK (xact_to > xact_from),
	n_events   integer     NOT NULL CHECK (n_events >= 1),
	event_ids  bigint[]    NOT NULL,          -- in id order
	digests    bytea       NOT NULL,          -- 8 bytes of each event's digest, in id order
	prev_hash  bytea       NOT NULL CHECK (octet_length(prev_hash) = 32),
	hash       bytea       NOT NULL CHECK (octet_length(hash) = 32),
	sealed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
	sealed_by  text        NOT NULL DEFAULT current_user,
	CHECK (cardinality(event_ids) = n_events AND octet_length(digests) = 8 * n_events)
);
COMMENT ON TABLE hookrun.audit_seals IS
	'The SHA-256 chain over audit_events, a block a row (migration 0020 explains the format)';
CREATE TRIGGER audit_seals_append_only BEFORE UPDATE OR DELETE ON hookrun.audit_seals
	FOR EACH ROW EXECUTE FUNCTION hookrun.audit_append_only();
CREATE TRIGGER audit_seals_no_truncate BEFORE TRUNCATE ON hookrun.audit_seals
	FOR EACH STATEMENT EXECUTE FUNCTION hookrun.audit_append_only();

-- The text an event's digest is taken of (the format in this file's header).
CREATE FUNCTION hookrun.audit_event_text(e hookrun.audit_events) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT pg_catalog.json_build_array(e.id, e.at AT TIME ZONE 'UTC', e.kind, e.actor,
	                                   e.organisation, e.job_id, e.item_id, e.delivery_id,
	                                   e.detail)::text
$$;

-- The SHA-256 digest of one event.
CREATE FUNCTION hookrun.audit_event_digest(e hookrun.audit_events) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT sha256(convert_to(hookrun.audit_event_text(e), 'UTF8'))
$$;

-- Seal the next block: the events of every transaction that has ended since the last block,
-- at most about p_max of them (a transaction's events always stay together). Returns the
-- block, or no row when there is nothing to seal or another session is sealing.
CREATE FUNCTION hookrun.seal_audit(p_max integer DEFAULT 50000)
RETURNS TABLE (block bigint, n_events integer, xact_to xid8, hash bytea)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_horizon xid8 := pg_snapshot_xmin(pg_current_snapshot());
	v_last hookrun.audit_seals;
	v_from xid8;
	v_cut xid8;
	v_ids bigint[];
	v_digests bytea;
	v_short bytea;
	v_n integer;
	v_hash bytea;
BEGIN
	-- One sealer at a time (the others skip); the horizon above came first, before this
	-- transaction could have an id of its own.
	IF NOT pg_try_advisory_xact_lock(hashtext('hookrun.seal_audit')) THEN
		RETURN;
	END IF;
	SELECT * INTO v_last FROM hookrun.audit_seals s ORDER BY s.block DESC LIMIT 1;
	v_from := coalesce(v_last.xact_to, '0'::xid8);
	-- A block too large for one statement ends before the transaction of its p_max-th
	-- event (after the first transaction, whatever its size).
	SELECT e.xact INTO v_cut FROM hookrun.audit_events e
	WHERE e.xact >= v_from AND e.xact < v_horizon
	ORDER BY e.xact, e.id OFFSET p_max LIMIT 1;
	IF v_cut IS NOT NULL AND v_cut = (SELECT min(e.xact) FROM hookrun.audit_events e
	                                  WHERE e.xact >= v_from AND e.xact < v_horizon) THEN
		SELECT min(e.xact) INTO v_cut FROM hookrun.audit_events e
		WHERE e.xact > v_cut AND e.xact < v_horizon;
	END IF;
	IF v_cut IS NOT NULL THEN
		v_horizon := v_cut;
	END IF;
	SELECT array_agg(e.id ORDER BY e.id), string_agg(d.digest, ''::bytea ORDER BY e.id),
	       string_agg(substring(d.digest FROM 1 FOR 8), ''::bytea ORDER BY e.id), count(*)
	INTO v_ids, v_digests, v_short, v_n
	FROM hookrun.audit_events e
	CROSS JOIN LATERAL (SELECT hookrun.audit_event_digest(e) AS digest) d
	WHERE e.xact >= v_from AND e.xact < v_horizon;
	IF v_n = 0 OR v_horizon <= v_from THEN
		RETURN;
	END IF;
	v_hash := sha256(coalesce(v_last.hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
	                 || int8send(v_n::bigint) || v_digests);
	INSERT INTO hookrun.audit_seals (block, xact_from, xact_to, n_events, event_ids, digests,
	                                 prev_hash, hash)
	VALUES (coalesce(v_last.block, 0) + 1, v_from, v_horizon, v_n, v_ids, v_short,
	        coalesce(v_last.hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea),
	        v_hash);
	RETURN QUERY SELECT coalesce(v_last.block, 0) + 1, v_n, v_horizon, v_hash;
END $$;
