-- Two group roles (NOLOGIN) that a deployment's login roles join:
--   hookrun_service  what hookrun-ingress, hookrun-worker and the CLI's daily commands need:
--                    read and write the queue tables, but only INSERT and SELECT on the
--                    audit tables, and no ownership of anything, so it cannot change the
--                    schema, switch a trigger off or take the append-only rule away;
--   hookrun_auditor  read-only: SELECT on every table of the schema, nothing else.
-- The migrations themselves run as the owner of the schema (the role that ran the first
-- one). Roles belong to the whole cluster, so they are made only when missing, which takes
-- CREATEROLE; without it, an administrator makes them first:
--   CREATE ROLE hookrun_service NOLOGIN; CREATE ROLE hookrun_auditor NOLOGIN;
-- and a login role for the services joins the first: CREATE ROLE app LOGIN IN ROLE hookrun_service.
DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['hookrun_service', 'hookrun_auditor'] LOOP
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
			IF NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles
			        WHERE rolname = current_user) THEN
				RAISE EXCEPTION 'role % is missing and % may not create roles', r, current_user
					USING HINT = format('an administrator runs: CREATE ROLE %I NOLOGIN', r);
			END IF;
			EXECUTE format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
END $$;

GRANT USAGE ON SCHEMA hookrun TO hookrun_service, hookrun_auditor;

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA hookrun TO hookrun_service;
REVOKE UPDATE, DELETE ON hookrun.audit_events, hookrun.audit_seals,
	hookrun.schema_migrations FROM hookrun_service;
REVOKE INSERT ON hookrun.schema_migrations FROM hookrun_service;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA hookrun TO hookrun_service;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA hookrun TO hookrun_service;

GRANT SELECT ON ALL TABLES IN SCHEMA hookrun TO hookrun_auditor;
REVOKE EXECUTE ON FUNCTION hookrun.seal_audit(integer) FROM PUBLIC, hookrun_auditor;

-- Tables and functions that later migrations make get the same grants.
ALTER DEFAULT PRIVILEGES IN SCHEMA hookrun
	GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO hookrun_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA hookrun
	GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO hookrun_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA hookrun GRANT SELECT ON TABLES TO hookrun_auditor;
