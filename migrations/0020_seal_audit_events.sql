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
-- Each event's digest is SHA-256 over its columns, each as a 4-byte big-endian length and
-- its text (length 0xffffffff for NULL): id, at (UTC, microseconds, ISO 8601), kind, actor,
-- organisation, job_id, item_id, delivery_id, detail (jsonb's own text, which is canonical).
-- A block's hash is SHA-256 over the previous block's hash (32 zero bytes for the first), the
-- event count as 8 bytes big-endian and the digests in id order. The seal keeps the ids and
-- the first 8 bytes of each digest too, so `hookrun audit verify` names the event that was
-- altered, deleted or inserted, not only the block.

ALTER TABLE hookrun.audit_events ADD COLUMN xact xid8;
COMMENT ON COLUMN hookrun.audit_events.xact IS
	'The writing transaction (its top-level id): which seal block the event belongs to; NULL '
	'for events written before migration 0020 (the first block)';
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

-- One field of an event as hashed: its length (4 bytes, big-endian; 0xffffffff for NULL),
-- then its UTF-8 text.
CREATE FUNCTION hookrun.audit_field(p text) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN p IS NULL THEN '\xffffffff'::bytea
	            ELSE int4send(octet_length(p)) || convert_to(p, 'UTF8') END
$$;

-- The SHA-256 digest of one event (the format in this file's header).
CREATE FUNCTION hookrun.audit_event_digest(e hookrun.audit_events) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT sha256(hookrun.audit_field(e.id::text)
	              || hookrun.audit_field(to_char(e.at AT TIME ZONE 'UTC',
	                                             'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
	              || hookrun.audit_field(e.kind) || hookrun.audit_field(e.actor)
	              || hookrun.audit_field(e.organisation) || hookrun.audit_field(e.job_id::text)
	              || hookrun.audit_field(e.item_id::text)
	              || hookrun.audit_field(e.delivery_id::text)
	              || hookrun.audit_field(e.detail::text))
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
	WHERE (e.xact >= v_from AND e.xact < v_horizon)
	   OR (v_last.block IS NULL AND e.xact IS NULL);
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
