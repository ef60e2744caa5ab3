-- A delivery.accepted audit event names the organisation its source routes to (the route's
-- "organisation"; NULL for a source that only stores), so that it joins the organisation's
-- other events. deliveries_audit() as in migration 0024 otherwise.
CREATE OR REPLACE FUNCTION hookrun.deliveries_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO hookrun.audit_events (kind, actor, organisation, delivery_id, detail)
	SELECT 'delivery.accepted', 'source:' || n.source, n.route ->> 'organisation', n.id,
	       jsonb_build_object('source', n.source, 'verified_by', n.verified_by,
	                          'bytes', octet_length(n.body))
	FROM new_rows n ORDER BY n.received_at, n.id;
	RETURN NULL;
END $$;
