-- Claims respect each organisation's concurrency cap ([versori.NAME] concurrency): the items
-- leased for an organisation, counted over every job and by every dispatcher (the jobs'
-- items_leased, kept by trigger), never exceed its cap. The cap is PostgreSQL's to enforce,
-- not one dispatcher's, so it holds however many ingresses dispatch.
DROP FUNCTION hookrun.claim_items(integer, interval, text, text[]);

CREATE INDEX jobs_leased_org_idx ON hookrun.jobs (organisation) WHERE items_leased > 0;

-- p_caps maps an organisation to the most items it may have leased at once ({"acme": 16});
-- organisations not in it have no cap. Expired leases count until they are claimed again.
CREATE FUNCTION hookrun.claim_items(p_limit integer, p_lease interval, p_worker text,
                                    p_skip_organisations text[] DEFAULT '{}',
                                    p_caps jsonb DEFAULT '{}')
RETURNS TABLE (item_id bigint, job_id uuid, organisation text, fencing_token bigint,
               attempt integer)
LANGUAGE sql AS $$
	WITH expired AS (
		SELECT i.id, j.organisation, 0::bigint AS rn, 0::bigint AS jrank
		FROM hookrun.job_items i JOIN hookrun.jobs j ON j.id = i.job_id
		WHERE i.state = 'leased' AND i.lease_expires_at < now()
		  AND NOT (j.organisation = ANY (p_skip_organisations))
		ORDER BY i.lease_expires_at LIMIT p_limit FOR UPDATE OF i SKIP LOCKED
	), open AS (
		SELECT j.id, j.organisation,
		       row_number() OVER (ORDER BY (j.delivery_id IS NULL), j.created_at) AS jrank,
		       count(*) OVER () AS njobs
		FROM hookrun.jobs j
		WHERE j.items_queued > 0 AND NOT (j.organisation = ANY (p_skip_organisations))
	), room AS (
		SELECT o.organisation,
		       CASE WHEN p_caps ? o.organisation
		            THEN greatest(0, (p_caps ->> o.organisation)::integer - coalesce(
		                     (SELECT sum(x.items_leased) FROM hookrun.jobs x
		                      WHERE x.organisation = o.organisation AND x.items_leased > 0),
		                     0))
		       END AS room
		FROM (SELECT DISTINCT organisation FROM open) o
	), due AS (
		SELECT d.id, d.run_at, o.id AS job, o.organisation, o.jrank FROM open o CROSS JOIN LATERAL (
			SELECT i.id, i.run_at FROM hookrun.job_items i
			WHERE i.job_id = o.id AND i.state = 'queued' AND i.run_at <= now()
			ORDER BY i.run_at, i.id
			LIMIT greatest(1, ceil(p_limit::numeric / o.njobs))::integer
			FOR UPDATE SKIP LOCKED) d
	), ranked AS (
		SELECT id, organisation, 0 AS o, rn, jrank FROM expired
		UNION ALL
		SELECT id, organisation, 1, row_number() OVER (PARTITION BY job ORDER BY run_at, id),
		       jrank
		FROM due
	), numbered AS (
		SELECT r.*, row_number() OVER (PARTITION BY r.organisation, r.o
		                               ORDER BY r.rn, r.jrank) AS orn
		FROM ranked r
	), capped AS (
		-- An expired lease is already counted in its organisation's items_leased: taking it
		-- over does not add to what is in flight, so it never waits for room.
		SELECT n.id, n.o, n.rn, n.jrank FROM numbered n LEFT JOIN room m USING (organisation)
		WHERE n.o = 0 OR m.room IS NULL OR n.orn <= m.room
	), picked AS (
		SELECT id FROM capped ORDER BY o, rn, jrank LIMIT p_limit
	), leased AS (
		UPDATE hookrun.job_items i SET
			state = 'leased', attempt = i.attempt + 1, lease_expires_at = now() + p_lease,
			fencing_token = nextval('hookrun.fencing_tokens'), leased_by = p_worker,
			updated_at = now()
		FROM picked WHERE i.id = picked.id
		RETURNING i.id, i.job_id, i.fencing_token, i.attempt
	), audited AS (
		INSERT INTO hookrun.audit_events (kind, actor, organisation, job_id, item_id, detail)
		SELECT 'item.state', p_worker, j.organisation, l.job_id, l.id,
		       jsonb_build_object('state', 'leased', 'attempt', l.attempt,
		                          'fencing_token', l.fencing_token)
		FROM leased l JOIN hookrun.jobs j ON j.id = l.job_id
	)
	SELECT l.id, l.job_id, j.organisation, l.fencing_token, l.attempt
	FROM leased l JOIN hookrun.jobs j ON j.id = l.job_id;
$$;
