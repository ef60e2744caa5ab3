-- Routing: a delivery whose source routes to work carries its route, the job it asks for
-- (decided by the ingress from the source's configuration and the body), and PostgreSQL
-- creates that job in the same transaction as the delivery row, whether the row came by
-- INSERT or by COPY. A routed delivery and its job are committed together or not at all.
--
-- deliveries stays append-only: the route is written with the row, and the outcome of each
-- routing (the job made, or why none was) is a row of its own in delivery_routes, so a
-- later replay adds an outcome instead of changing one.

-- The placeholders of migration 0002 go: route (a name, always 'store') and state (which
-- would have been updated). The view that showed them is rebuilt around the new column.
DROP VIEW hookrun.deliveries_json;
ALTER TABLE hookrun.deliveries DROP COLUMN route, DROP COLUMN state;
ALTER TABLE hookrun.deliveries ADD COLUMN route jsonb;
CREATE VIEW hookrun.deliveries_json AS
SELECT id, source, idempotency_key, received_at, committed_at, method, uri, headers,
       content_type, verified_by, route, peer,
       octet_length(body) AS body_bytes,
       CASE WHEN content_type ILIKE '%json%' THEN convert_from(body, 'UTF8')::jsonb END AS payload
FROM hookrun.deliveries;
COMMENT ON COLUMN hookrun.deliveries.route IS
	'What the source''s route asked for at receipt: {"kind","organisation","parameters","item"}, '
	'or {"error": why} when the body did not give what the route needs; NULL: stored only';

CREATE TABLE hookrun.delivery_routes (
	id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	delivery_id uuid        NOT NULL,                 -- hookrun.deliveries.id
	at          timestamptz NOT NULL DEFAULT now(),
	outcome     text        NOT NULL CHECK (outcome IN ('routed', 'unroutable')),
	reason      text,                                 -- unroutable: why, naming the field
	job_id      uuid        REFERENCES hookrun.jobs (id),
	route       jsonb       NOT NULL,                 -- what was asked
	CHECK ((outcome = 'routed') = (job_id IS NOT NULL)),
	CHECK ((outcome = 'unroutable') = (reason IS NOT NULL))
);
CREATE INDEX delivery_routes_delivery_idx ON hookrun.delivery_routes (delivery_id, id);
CREATE INDEX delivery_routes_unroutable_idx ON hookrun.delivery_routes (at)
	WHERE outcome = 'unroutable';
COMMENT ON TABLE hookrun.delivery_routes IS
	'One row per routing of a delivery (at receipt, and per replay): the job made, or why none';

-- Route one delivery: create its job of one item, or record why there is none. A route the
-- database refuses (a kind it does not know, an item submit_job() rejects) is recorded as
-- unroutable rather than failing the delivery's commit: the delivery is what was accepted.
CREATE FUNCTION hookrun.route_delivery(p_delivery_id uuid, p_source text, p_route jsonb)
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
	v_job uuid;
BEGIN
	IF p_route ? 'error' THEN
		INSERT INTO hookrun.delivery_routes (delivery_id, outcome, reason, route)
		VALUES (p_delivery_id, 'unroutable', coalesce(p_route ->> 'error', 'unroutable'),
		        p_route);
		RETURN NULL;
	END IF;
	BEGIN
		SELECT s.job_id INTO v_job FROM hookrun.submit_job(
			p_route ->> 'kind', p_route ->> 'organisation',
			coalesce(p_route -> 'parameters', '{}'),
			jsonb_build_array(p_route -> 'item'), 'source:' || p_source, NULL,
			p_delivery_id) s;
	EXCEPTION WHEN data_exception OR integrity_constraint_violation
	               OR invalid_parameter_value OR raise_exception THEN
		INSERT INTO hookrun.delivery_routes (delivery_id, outcome, reason, route)
		VALUES (p_delivery_id, 'unroutable', 'the job was refused: ' || SQLERRM, p_route);
		RETURN NULL;
	END;
	INSERT INTO hookrun.delivery_routes (delivery_id, outcome, job_id, route)
	VALUES (p_delivery_id, 'routed', v_job, p_route);
	RETURN v_job;
END $$;

CREATE FUNCTION hookrun.deliveries_route() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM hookrun.route_delivery(NEW.id, NEW.source, NEW.route);
	RETURN NULL;
END $$;

-- Only routed rows pay for the trigger: the WHEN clause is checked per row without a call.
CREATE TRIGGER deliveries_route AFTER INSERT ON hookrun.deliveries
	FOR EACH ROW WHEN (NEW.route IS NOT NULL) EXECUTE FUNCTION hookrun.deliveries_route();
