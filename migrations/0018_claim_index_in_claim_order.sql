-- One index on a job's items by state in claim order, (job_id, state, run_at, id), in place of
-- two: job_items_job_state_idx (job_id, state) and the partial job_items_job_runnable_idx
-- (job_id, run_at, id) WHERE state = 'queued'.
--
-- Why: a bulk job's items are inserted in one statement, and until autovacuum analyzes the
-- table its statistics still say a job has about one queued item. On those statistics both
-- indexes looked equally cheap for a claim's "this job's due items, in (run_at, id) order",
-- and the planner took (job_id, state) and sorted every queued item of the job on every claim:
-- a 16-item claim on a 60,000-item job took 20 ms, and a job grew slower the bigger it was.
-- The index that answers (job_id, state) also answers it in claim order now, so no plan needs
-- a sort, whatever the statistics say; and every item state change maintains one index fewer.
-- The item pages (job_id, state, id > cursor), cancel and retry read it as they read the old one.
DROP INDEX hookrun.job_items_job_runnable_idx;
DROP INDEX hookrun.job_items_job_state_idx;
CREATE INDEX job_items_job_state_idx ON hookrun.job_items (job_id, state, run_at, id);
