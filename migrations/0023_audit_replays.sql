-- A replay leaves a delivery.replayed row in audit_events: who asked, the delivery, its
-- source and organisation, the outcome (the job made, or why none) and whether it was forced.
-- replay_delivery() as in migration 0010 otherwise.
CREATE OR REPLACE FUNCTION hookrun.replay_delivery(p_delivery_id uuid, p_route jsonb,
                                                   p_requested_by text,
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
	SELECT r.outcome, r.job_id, r.reason INTO v_last FROM hookrun.delivery_routes r
	WHERE r.delivery_id = p_delivery_id ORDER BY r.id DESC LIMIT 1;
	INSERT INTO hookrun.audit_events (kind, actor, organisation, job_id, delivery_id, detail)
	VALUES ('delivery.replayed', p_requested_by, p_route ->> 'organisation', v_last.job_id,
	        p_delivery_id,
	        jsonb_strip_nulls(jsonb_build_object('source', v_source, 'outcome', v_last.outcome,
	                                             'reason', v_last.reason,
	                                             'forced', p_force)));
	RETURN QUERY SELECT v_last.outcome, v_last.job_id, v_last.reason;
END $$;
