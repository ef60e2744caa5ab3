-- Calls to the Versori API that belong to no item: the ingress reads a project's variable
-- schema and resolves an environment's name when a job is submitted, before any item exists.
-- Each call becomes one 'api.call' audit row, as an item's calls do in finish_items(), with
-- the organisation and the actor (the token that submitted) and no job or item.

-- Record p_calls (a JSON array of call objects as the worker records them: at, op, method,
-- path, status, duration_ms, outcome, ...) made by p_actor for organisation p_organisation.
-- The number of rows written.
CREATE FUNCTION hookrun.record_api_calls(p_actor text, p_organisation text, p_calls jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	n integer;
BEGIN
	IF jsonb_typeof(p_calls) IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION 'calls must be a JSON array' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	INSERT INTO hookrun.audit_events (at, kind, actor, organisation, detail)
	SELECT coalesce((c ->> 'at')::timestamptz, clock_timestamp()), 'api.call', p_actor,
	       p_organisation, c - 'at'
	FROM jsonb_array_elements(p_calls) WITH ORDINALITY AS x(c, n)
	ORDER BY x.n;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END $$;
