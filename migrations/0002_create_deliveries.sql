-- Every accepted inbound call, committed before the sender got its 202.
CREATE TABLE hookrun.deliveries (
	id              uuid        PRIMARY KEY,           -- UUIDv7 minted by the ingress
	source          text        NOT NULL,              -- [source.NAME] that received it
	idempotency_key text,                              -- as extracted, NULL when none
	received_at     timestamptz NOT NULL,              -- when the ingress read the request
	committed_at    timestamptz NOT NULL DEFAULT now(),
	method          text        NOT NULL,
	uri             text        NOT NULL,              -- path and query as received
	headers         jsonb       NOT NULL,              -- secret headers removed
	content_type    text,
	body            bytea       NOT NULL,              -- exact bytes, for re-verification
	verified_by     text        NOT NULL,              -- auth scheme that verified it
	route           text        NOT NULL DEFAULT 'store',
	state           text        NOT NULL DEFAULT 'stored'
	                CHECK (state IN ('stored', 'routed', 'failed')),
	peer            text
);
CREATE INDEX deliveries_source_received_idx ON hookrun.deliveries (source, received_at);

-- Idempotency keys, kept at least dedup_window after first use (hookrun.ini).
CREATE TABLE hookrun.idempotency_keys (
	source      text        NOT NULL,
	key         text        NOT NULL,
	delivery_id uuid        NOT NULL REFERENCES hookrun.deliveries (id) DEFERRABLE INITIALLY DEFERRED,
	expires_at  timestamptz NOT NULL,
	PRIMARY KEY (source, key)
);
CREATE INDEX idempotency_keys_expires_idx ON hookrun.idempotency_keys (expires_at);

-- The same rows with the body decoded, for people asking questions in SQL.
CREATE VIEW hookrun.deliveries_json AS
SELECT id, source, idempotency_key, received_at, committed_at, method, uri, headers,
       content_type, verified_by, route, state, peer,
       octet_length(body) AS body_bytes,
       CASE WHEN content_type ILIKE '%json%' THEN convert_from(body, 'UTF8')::jsonb END AS payload
FROM hookrun.deliveries;
