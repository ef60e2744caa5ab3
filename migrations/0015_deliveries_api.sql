-- The deliveries side of the API: GET /v1/deliveries/{id} and POST /v1/deliveries/{id}/replay.
-- A delivery belongs to the organisation its source routes to ([source.NAME] organisation,
-- handed in by the ingress as two arrays: source names and their organisations) or to the
-- organisation of any job made from it. The ingress hands in the sources' organisations as
-- a JSON object ({"crm": "acme", ...}). A delivery of a source that only stores belongs to no
-- organisation: SQL and the CLI read those.

-- Whether delivery p_id, which came to p_source, is visible to p_organisations, the sources'
-- organisations given by p_source_orgs.
CREATE FUNCTION hookrun.delivery_visible(p_id uuid, p_source text, p_source_orgs jsonb,
                                         p_organisations text[])
RETURNS boolean LANGUAGE sql STABLE AS $$
	SELECT coalesce((p_source_orgs ->> p_source) = ANY (p_organisations), false)
	    OR EXISTS (SELECT 1 FROM hookrun.jobs j
	               WHERE j.delivery_id = p_id AND j.organisation = ANY (p_organisations));
$$;

-- One delivery as the API shows it, or NULL when it is not visible: what arrived (never the
-- raw body: its size, and the JSON payload when it is JSON), and every routing of it with
-- who asked.
CREATE FUNCTION hookrun.delivery_json(p_id uuid, p_source_orgs jsonb, p_organisations text[])
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
	d hookrun.deliveries;
	v_payload jsonb;
BEGIN
	SELECT * INTO d FROM hookrun.deliveries WHERE id = p_id;
	IF NOT FOUND OR NOT hookrun.delivery_visible(d.id, d.source, p_source_orgs,
	                                             p_organisations) THEN
		RETURN NULL;
	END IF;
	IF d.content_type ILIKE '%json%' THEN
		BEGIN
			v_payload := convert_from(d.body, 'UTF8')::jsonb;
		EXCEPTION WHEN OTHERS THEN
			v_payload := NULL; -- stored as received; not JSON after all
		END;
	END IF;
	RETURN jsonb_strip_nulls(jsonb_build_object(
		'id', d.id, 'source', d.source, 'received_at', d.received_at,
		'idempotency_key', d.idempotency_key, 'content_type', d.content_type,
		'body_bytes', octet_length(d.body), 'verified_by', d.verified_by,
		'payload', v_payload, 'route', d.route,
		'routings', (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
		                 'at', r.at, 'outcome', r.outcome, 'job_id', r.job_id,
		                 'reason', r.reason,
		                 'requested_by', coalesce(r.requested_by, 'receipt'))) ORDER BY r.id),
		                 '[]')
		             FROM hookrun.delivery_routes r WHERE r.delivery_id = d.id)));
END $$;

-- What a replay over the API needs of a visible delivery: its source, its body and its
-- latest routing ("routed <job>" or "unroutable"); no row when it is not visible.
CREATE FUNCTION hookrun.delivery_replay_input(p_id uuid, p_source_orgs jsonb,
                                              p_organisations text[])
RETURNS TABLE (source text, body bytea, last_routing text)
LANGUAGE sql STABLE AS $$
	SELECT d.source, d.body,
	       (SELECT r.outcome || coalesce(' ' || r.job_id::text, '')
	        FROM hookrun.delivery_routes r WHERE r.delivery_id = d.id ORDER BY r.id DESC LIMIT 1)
	FROM hookrun.deliveries d
	WHERE d.id = p_id AND hookrun.delivery_visible(d.id, d.source, p_source_orgs, p_organisations);
$$;
