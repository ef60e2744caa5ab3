-- Idempotency keys no longer carry a foreign key to their delivery.
--
-- The constraint checked every claimed key at commit with one query per row,
--   SELECT 1 FROM ONLY hookrun.deliveries x WHERE id = $1 FOR KEY SHARE OF x,
-- whose plan each backend caches. Planned while the statistics said hookrun.deliveries was
-- empty or nearly so (autovacuum analyzes a table emptied by TRUNCATE at once, and a new
-- one may be analyzed before it grows), that plan is a sequential scan, kept until the next
-- ANALYZE: every key of every batch then read the whole growing table, and keyed ingest fell
-- from ~8,000 to a few hundred requests/s, PostgreSQL busy with those scans. With a good plan
-- the check still cost a query, a row lock and a WAL record per key: a quarter of
-- PostgreSQL's instructions per keyed row.
--
-- The invariant stays what it was: a key names a delivery that exists. Keys are written by
-- the ingress's batch statement only, in the same statement (and transaction) that inserts
-- the delivery the key names, or that finds it already stored; hookrun never deletes
-- deliveries. Whoever deletes deliveries must delete their keys first, or only delete
-- deliveries older than dedup_window (whose keys have expired). A key whose delivery was
-- deleted still deduplicates: a repeat is answered with the deleted delivery's id.
ALTER TABLE hookrun.idempotency_keys DROP CONSTRAINT idempotency_keys_delivery_id_fkey;
COMMENT ON COLUMN hookrun.idempotency_keys.delivery_id IS
	'hookrun.deliveries.id of the delivery that claimed the key (no foreign key: see migration 0003)';
