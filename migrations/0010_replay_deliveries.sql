-- Replays: a stored delivery routed again, with the route today's configuration gives it
-- (`hookrun deliveries replay ID`; the HTTP API's replay later). A delivery that could not be
-- routed at receipt (a missing field, an unknown type, a source that only stored) becomes
-- work once the configuration is fixed, without the sender sending it again.
--
-- deliveries stays append-only: a replay adds its outcome to delivery_routes, with who asked.

ALTER TABLE hookrun.delivery_routes ADD COLUMN requested_by text;
COMMENT ON COLUMN hookrun.delivery_routes.requested_by IS
	'NULL: routed at receipt; else who asked for this replay (cli, …)';

-- route_delivery() gains who asked (NULL at receipt); the trigger's call stays as it was.
DROP FUNCTION hookrun.route_delivery(uuid, text, jsonb);
CREATE FUNCTION hookrun.route_delivery(p_delivery_id uuid, p_source text, p_route jsonb,
                                       p_requested_by text DEFAULT NULL)
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
	v_job uuid;
BEGIN
	IF p_route ? 'error' THEN
		INSERT INTO hookrun.delivery_routes (delivery_id, outcome, reason, route, requested_by)
		VALUES (p_delivery_id, 'unroutable', coalesce(p_route ->> 'error', 'unroutable'),
		        p_route, p_requested_by);
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
		INSERT INTO hookrun.delivery_routes (delivery_id, outcome, reason, route,
		                                     requested_by)
		VALUES (p_delivery_id, 'unroutable', 'the job was refused: ' || SQLERRM, p_route,
		        p_requested_by);
		RETURN NULL;
	END;
	INSERT INTO hookrun.delivery_routes (delivery_id, outcome, job_id, route, requested_by)
	VALUES (p_delivery_id, 'routed', v_job, p_route, p_requested_by);
	RETURN v_job;
END $$;

-- Route a stored delivery again with p_route (what the source's route gives its body today,
-- decided by the caller from the configuration): a job of one item, or an unroutable row
-- saying why. Unless p_force, a delivery whose latest routing made a job is refused (a
-- replay would make a second one). Raises no_data_found for an unknown delivery. Returns
-- the outcome row.
CREATE FUNCTION hookrun.replay_delivery(p_delivery_id uuid, p_route jsonb, p_requested_by text,
                                        p_force boolean DEFAULT false)
RETURNS TABLE (outcome text, job_id uuid, reason text) LANGUAGE plpgsql AS $$
DECLARE
	v_source text;
	v_last record;
BEGIN
	IF p_requested_by IS NULL OR p_requested_by = '' THEN
		RAISE EXCEPTION 'a replay names who asked for it'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- One replay of a delivery at a time: a second waits and then sees the first's job.
	SELECT d.source INTO v_source FROM hookrun.deliveries d WHERE d.id = p_delivery_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no delivery %', p_delivery_id USING ERRCODE = 'no_data_found';
	END IF;
	PERFORM pg_advisory_xact_lock(hashtextextended(p_delivery_id::text, 0));
	SELECT r.outcome, r.job_id INTO v_last FROM hookrun.delivery_routes r
	WHERE r.delivery_id = p_delivery_id ORDER BY r.id DESC LIMIT 1;
	IF NOT p_force AND v_last.outcome = 'routed' THEN
		RAISE EXCEPTION 'delivery % was routed to job % already', p_delivery_id, v_last.job_id
			USING ERRCODE = 'unique_violation',
			      HINT = 'force the replay to make a second job';
	END IF;
	PERFORM hookrun.route_delivery(p_delivery_id, v_source, p_route, p_requested_by);
	RETURN QUERY SELECT r.outcome, r.job_id, r.reason FROM hookrun.delivery_routes r
	WHERE r.delivery_id = p_delivery_id ORDER BY r.id DESC LIMIT 1;
END $$;
COMMENT ON FUNCTION hookrun.replay_delivery(uuid, jsonb, text, boolean) IS
	'Route a stored delivery again with today''s route (one new delivery_routes row)';
