-- Bearer tokens for the jobs API, created by the CLI (`hookrun tokens create`). Only a token's
-- SHA-256 is stored, never the token: the CLI prints the token once. Each token is scoped to
-- one or more organisations and to read or write; it may expire and may be revoked; every
-- use is counted.
CREATE TABLE hookrun.api_tokens (
	id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	name          text NOT NULL CHECK (name <> '' AND length(name) <= 200),
	prefix        text NOT NULL,                  -- the token's first characters, to recognise it
	hash          bytea NOT NULL UNIQUE CHECK (length(hash) = 32), -- SHA-256 of the token
	organisations text[] NOT NULL
	              CHECK (cardinality(organisations) > 0 AND array_position(organisations, NULL) IS NULL
	                     AND '' <> ALL (organisations)),
	access        text NOT NULL CHECK (access IN ('read', 'write')),
	created_by    text NOT NULL,
	created_at    timestamptz NOT NULL DEFAULT now(),
	expires_at    timestamptz,
	revoked_at    timestamptz,
	revoked_by    text,
	uses          bigint NOT NULL DEFAULT 0,
	last_used_at  timestamptz
);
COMMENT ON TABLE hookrun.api_tokens IS
	'bearer tokens of the jobs API: SHA-256 only, scoped to organisations and read or write';

-- A new token (its hash and printable prefix computed by the caller), with a token.created
-- audit row (name, organisations, access, expiry: never the hash).
CREATE FUNCTION hookrun.create_token(p_name text, p_organisations text[], p_access text,
                                     p_expires_at timestamptz, p_created_by text,
                                     p_hash bytea, p_prefix text)
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
	v_id uuid;
BEGIN
	INSERT INTO hookrun.api_tokens (name, prefix, hash, organisations, access, created_by,
	                                expires_at)
	VALUES (p_name, p_prefix, p_hash, p_organisations, p_access, p_created_by, p_expires_at)
	RETURNING id INTO v_id;
	INSERT INTO hookrun.audit_events (kind, actor, detail)
	VALUES ('token.created', p_created_by,
	        jsonb_strip_nulls(jsonb_build_object('token_id', v_id, 'name', p_name,
	                                             'organisations', to_jsonb(p_organisations),
	                                             'access', p_access,
	                                             'expires_at', p_expires_at)));
	RETURN v_id;
END $$;

-- Revoke a token: true when it was live; false when unknown or revoked already. A
-- token.revoked audit row when it was.
CREATE FUNCTION hookrun.revoke_token(p_id uuid, p_revoked_by text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	UPDATE hookrun.api_tokens SET revoked_at = now(), revoked_by = p_revoked_by
	WHERE id = p_id AND revoked_at IS NULL;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	INSERT INTO hookrun.audit_events (kind, actor, detail)
	VALUES ('token.revoked', p_revoked_by, jsonb_build_object('token_id', p_id));
	RETURN true;
END $$;

-- The token with this hash if it may be used now (not revoked, not expired), counting the
-- use; no row otherwise. For the jobs API's authentication.
CREATE FUNCTION hookrun.use_token(p_hash bytea)
RETURNS TABLE (token_id uuid, organisations text[], access text)
LANGUAGE sql AS $$
	UPDATE hookrun.api_tokens SET uses = uses + 1, last_used_at = now()
	WHERE hash = p_hash AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
	RETURNING id, organisations, access;
$$;
