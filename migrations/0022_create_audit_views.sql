-- Views with stable names for the questions people ask of hookrun, in plain SQL. Their
-- columns are a contract (docs/architecture.md lists them); a later migration may add
-- columns at the end, never rename or drop one. None of them may fail on a row the ingress
-- accepted: a stored body is read as JSON only through try_jsonb(), which answers NULL for
-- bytes that are not (a store-only source keeps whatever it was sent).

-- bytes as jsonb, or NULL when they are not UTF-8 JSON that jsonb takes (jsonb refuses
-- \u0000, for one, which JSON allows).
CREATE FUNCTION hookrun.try_jsonb(p bytea) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
	RETURN convert_from(p, 'UTF8')::jsonb;
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END $$;

CREATE OR REPLACE VIEW hookrun.deliveries_json AS
SELECT id, source, idempotency_key, received_at, committed_at, method, uri, headers,
       content_type, verified_by, route, peer,
       octet_length(body) AS body_bytes,
       CASE WHEN content_type ILIKE '%json%' THEN hookrun.try_jsonb(body) END AS payload
FROM hookrun.deliveries;

-- A JSON value as a number, or NULL when it is not one: a view reads audit details through
-- it, so an odd value (a row a person wrote by hand) can only make one cell NULL.
CREATE FUNCTION hookrun.json_number(v jsonb) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN jsonb_typeof(v) = 'number' THEN v::text::double precision END
$$;
-- The same for an integer of at most 9 digits (an HTTP status, a count).
CREATE FUNCTION hookrun.json_int(v jsonb) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN v::text ~ '^-?[0-9]{1,9}$' THEN v::text::integer END
$$;

-- One end user's items, found by externalId.
CREATE INDEX job_items_external_idx ON hookrun.job_items (external_id);

-- Every job with its progress: counts by item state, the share done, the rate since it
-- started and the time left at that rate.
CREATE VIEW hookrun.job_progress AS
SELECT j.id AS job_id, j.kind, j.organisation, j.state, j.submitted_by, j.delivery_id,
       j.created_at, j.started_at, j.finished_at,
       j.items_total, j.items_queued, j.items_leased AS items_running, j.items_succeeded,
       j.items_failed, j.items_cancelled,
       round(100.0 * (j.items_succeeded + j.items_failed + j.items_cancelled)
             / greatest(j.items_total, 1), 1) AS percent_done,
       round(((j.items_succeeded + j.items_failed)
              / greatest(extract(epoch FROM coalesce(j.finished_at, now()) - j.started_at),
                         0.001))::numeric, 1) AS items_per_s,
       CASE WHEN j.finished_at IS NULL AND j.items_succeeded + j.items_failed > 0 THEN
           round(((j.items_queued + j.items_leased)
                  * extract(epoch FROM now() - j.started_at)
                  / (j.items_succeeded + j.items_failed))::numeric, 1) END AS eta_s
FROM hookrun.jobs j;

-- Every item that failed for good: why, after how many attempts, and the last API call it made.
CREATE VIEW hookrun.failed_items AS
SELECT i.id AS item_id, i.job_id, j.kind, j.organisation, i.external_id, i.attempt,
       i.last_error, i.updated_at AS failed_at, c.at AS last_call_at,
       c.detail ->> 'op' AS last_call_op, hookrun.json_int(c.detail -> 'status') AS last_call_status,
       c.detail ->> 'outcome' AS last_call_outcome
FROM hookrun.job_items i
JOIN hookrun.jobs j ON j.id = i.job_id
LEFT JOIN LATERAL (SELECT a.at, a.detail FROM hookrun.audit_events a
                   WHERE a.item_id = i.id AND a.kind = 'api.call'
                   ORDER BY a.id DESC LIMIT 1) c ON true
WHERE i.state = 'failed';

-- What happened to end users, oldest first: every audit event of their items (state
-- changes, API calls) and the deliveries whose jobs they were in. Ask for one:
-- WHERE external_id = '...' (and organisation = '...').
CREATE VIEW hookrun.end_user_history AS
SELECT i.external_id, j.organisation, a.at, a.kind AS event, a.actor, i.job_id, i.id AS item_id,
       j.kind AS job_kind, j.delivery_id, a.detail
FROM hookrun.job_items i
JOIN hookrun.jobs j ON j.id = i.job_id
JOIN hookrun.audit_events a ON a.item_id = i.id
UNION ALL
SELECT i.external_id, j.organisation, d.received_at, 'delivery.received', 'source:' || d.source,
       i.job_id, i.id, j.kind, d.id,
       jsonb_build_object('source', d.source, 'idempotency_key', d.idempotency_key,
                          'verified_by', d.verified_by)
FROM hookrun.job_items i
JOIN hookrun.jobs j ON j.id = i.job_id
JOIN hookrun.deliveries d ON d.id = j.delivery_id
UNION ALL
SELECT i.external_id, j.organisation, s.at, s.kind, s.actor, i.job_id, i.id, j.kind,
       j.delivery_id, s.detail
FROM hookrun.job_items i
JOIN hookrun.jobs j ON j.id = i.job_id
JOIN hookrun.audit_events s ON s.job_id = j.id AND s.item_id IS NULL
                           AND s.kind IN ('job.submitted', 'job.cancelled', 'job.retried');

-- Versori API calls by organisation and operation: how many, how fast, how they ended.
CREATE VIEW hookrun.api_calls_by_endpoint AS
SELECT a.organisation, a.detail ->> 'op' AS op, a.detail ->> 'method' AS method,
       count(*) AS calls,
       count(*) FILTER (WHERE hookrun.json_int(a.detail -> 'status') BETWEEN 200 AND 299) AS status_2xx,
       count(*) FILTER (WHERE hookrun.json_int(a.detail -> 'status') BETWEEN 400 AND 499
                        AND hookrun.json_int(a.detail -> 'status') <> 429) AS status_4xx,
       count(*) FILTER (WHERE hookrun.json_int(a.detail -> 'status') = 429) AS status_429,
       count(*) FILTER (WHERE hookrun.json_int(a.detail -> 'status') >= 500) AS status_5xx,
       count(*) FILTER (WHERE coalesce(hookrun.json_int(a.detail -> 'status'), 0) = 0) AS no_answer,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY hookrun.json_number(a.detail -> 'duration_ms'))
             ::numeric, 2) AS p50_ms,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY hookrun.json_number(a.detail -> 'duration_ms'))
             ::numeric, 2) AS p95_ms,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY hookrun.json_number(a.detail -> 'duration_ms'))
             ::numeric, 2) AS p99_ms,
       round(max(hookrun.json_number(a.detail -> 'duration_ms'))::numeric, 2) AS max_ms,
       min(a.at) AS first_at, max(a.at) AS last_at
FROM hookrun.audit_events a
WHERE a.kind = 'api.call'
GROUP BY 1, 2, 3;

-- Deliveries by source and outcome: stored only, routed to a job, or unroutable (by the
-- latest routing, a replay included).
CREATE VIEW hookrun.deliveries_by_source AS
SELECT d.source, coalesce(r.outcome, 'stored') AS outcome, count(*) AS deliveries,
       sum(octet_length(d.body)) AS body_bytes, min(d.received_at) AS first_at,
       max(d.received_at) AS last_at
FROM hookrun.deliveries d
LEFT JOIN LATERAL (SELECT r.outcome FROM hookrun.delivery_routes r
                   WHERE r.delivery_id = d.id ORDER BY r.id DESC LIMIT 1) r ON true
GROUP BY 1, 2;

-- One row a day (UTC) and organisation: jobs, items settled, API calls and their faults.
CREATE VIEW hookrun.daily_summary AS
SELECT (a.at AT TIME ZONE 'UTC')::date AS day, a.organisation,
       count(*) FILTER (WHERE a.kind = 'job.submitted') AS jobs_submitted,
       count(*) FILTER (WHERE a.kind = 'item.state' AND a.detail ->> 'state' = 'succeeded')
           AS items_succeeded,
       count(*) FILTER (WHERE a.kind = 'item.state' AND a.detail ->> 'state' = 'failed')
           AS items_failed,
       count(*) FILTER (WHERE a.kind = 'item.state' AND a.detail ->> 'state' = 'queued'
                        AND a.detail ? 'error') AS items_retried,
       count(*) FILTER (WHERE a.kind = 'api.call') AS api_calls,
       count(*) FILTER (WHERE a.kind = 'api.call'
                        AND hookrun.json_int(a.detail -> 'status') >= 500) AS api_5xx,
       count(*) FILTER (WHERE a.kind = 'api.call'
                        AND hookrun.json_int(a.detail -> 'status') = 429) AS api_429,
       round((percentile_cont(0.95) WITHIN GROUP (ORDER BY hookrun.json_number(a.detail -> 'duration_ms'))
              FILTER (WHERE a.kind = 'api.call'))::numeric, 2) AS api_p95_ms
FROM hookrun.audit_events a
GROUP BY 1, 2;

GRANT SELECT ON hookrun.job_progress, hookrun.failed_items, hookrun.end_user_history,
	hookrun.api_calls_by_endpoint, hookrun.deliveries_by_source, hookrun.daily_summary,
	hookrun.deliveries_json TO hookrun_auditor, hookrun_service;
