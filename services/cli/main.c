/* hookrun: the operator's command line. Wiring only: each command calls into common/. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_api.h"
#include "cli_audit.h"
#include "cli_deliveries.h"
#include "cli_deliveries_api.h"
#include "cli_jobs.h"
#include "cli_jobs_api.h"
#include "cli_tokens.h"
#include "config.h"
#include "db.h"
#include "hookrun_build.h"
#include "log.h"
#include "migrate.h"

extern char **environ;

struct cli {
	const char *config_path;
	const char *migrations_dir;
	const char *api_url;    /* --api-url, over the configuration's api_url */
	const char *token_file; /* --token-file, over the configuration's api_token */
	bool status;
};

/* Print usage. */
static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: hookrun [--config FILE] [--api-url URL] [--token-file FILE] COMMAND [OPTIONS]\n"
	    "\n"
	    "commands:\n"
	    "  migrate [--dir DIR] [--status]  apply pending migrations (or list them)\n"
	    "  config                          print the effective configuration, secrets masked\n"
	    "  jobs submit|list|items|show|cancel|retry ...\n"
	    "                                  jobs over the HTTP API (hookrun jobs --help)\n"
	    "  jobs show ID [--json]           a job: state, item counts, timings, failed items\n"
	    "  deliveries show ID [--json]     a stored delivery and every routing of it\n"
	    "  deliveries replay ID [--force]  route a stored delivery again with today's\n"
	    "                                  configuration (--force: even if it made a job)\n"
	    "  tokens create --name NAME --org ORG[,ORG...] [--access read|write]\n"
	    "                [--expires INTERVAL]\n"
	    "                                  a bearer token for the jobs API, printed once\n"
	    "  tokens list [--json]            every token: scope, state, expiry, uses\n"
	    "  tokens revoke ID                revoke a token\n"
	    "  audit seal|head|verify ...      seal the audit trail, print its latest seal, "
	    "verify\n"
	    "                                  its chain (hookrun audit --help)\n"
	    "  version                         print the version\n"
	    "\n"
	    "jobs and deliveries go over the HTTP API at --api-url, api_url in the config file or\n"
	    "HOOKRUN_API_URL (default http://127.0.0.1:8080) with the token of --token-file,\n"
	    "api_token(_file) or HOOKRUN_TOKEN(_FILE). Without a token, jobs show and deliveries\n"
	    "go straight to the database, as tokens, audit and migrate do: its URL comes from "
	    "db_url in\n"
	    "the config file, HOOKRUN_DB_URL or HOOKRUN_DB_URL_FILE; migrations from --dir,\n"
	    "HOOKRUN_MIGRATIONS_DIR or %s.\n"
	    "Exit status: 0 done, 1 refused (the reason on stderr), 2 usage, 3 the API could not\n"
	    "be reached.\n",
	    HOOKRUN_MIGRATIONS_DIR);
}

/* Load the configuration or explain why not; flags as config_load_flags() takes them. */
static struct config *cli_config(const struct cli *cli, unsigned flags)
{
	struct config *c = NULL;
	_cleanup_free_ char *err = NULL;

	if (config_load_flags(cli->config_path, environ, flags, &c, &err) < 0) {
		fprintf(stderr, "hookrun: %s\n", err);
		return NULL;
	}
	return c;
}

/* Open a blocking connection to the configured database. */
static PGconn *cli_connect(const struct config *c)
{
	_cleanup_free_ char *err = NULL;
	PGconn *conn = NULL;

	if (!c->db_url || !*c->db_url) {
		fprintf(stderr, "hookrun: db_url is required (config file, HOOKRUN_DB_URL or "
		                "HOOKRUN_DB_URL_FILE)\n");
		return NULL;
	}
	if (db_connect(c->db_url, &conn, &err) < 0) {
		_cleanup_free_ char *masked = db_url_mask(c->db_url);
		fprintf(stderr, "hookrun: cannot connect to %s: %s\n", masked, err);
		return NULL;
	}
	return conn;
}

/* hookrun migrate: apply (or list) migrations. */
static int cli_migrate(const struct cli *cli, const struct config *c)
{
	const char *dir =
	    cli->migrations_dir ? cli->migrations_dir : getenv("HOOKRUN_MIGRATIONS_DIR");
	struct migration *list = NULL;
	struct migrate_report rep = {0};
	_cleanup_free_ char *err = NULL;
	size_t n = 0;
	PGconn *conn;
	int r;

	if (!dir)
		dir = HOOKRUN_MIGRATIONS_DIR;
	r = migrate_load_dir(dir, &list, &n, &err);
	if (r < 0) {
		fprintf(stderr, "hookrun migrate: %s\n", err);
		return EXIT_FAILURE;
	}
	conn = cli_connect(c);
	if (!conn) {
		migrate_list_free(list, n);
		return EXIT_FAILURE;
	}
	if (cli->status)
		r = migrate_status(conn, list, n, stdout, &err);
	else
		r = migrate_apply(conn, list, n, &rep, &err);
	if (r < 0)
		fprintf(stderr, "hookrun migrate: %s\n", err);
	else if (!cli->status)
		printf("migrations: %zu applied now, %zu already applied, schema at %s%s\n",
		       rep.applied, rep.already, rep.last_version ? rep.last_version : "(none)",
		       rep.unknown ? " (the database also has newer migrations)" : "");
	migrate_report_fini(&rep);
	migrate_list_free(list, n);
	db_close(conn);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* hookrun jobs show ID: exit 0, or 1 with the reason on stderr. */
static int cli_jobs(const struct config *c, int argc, char **argv)
{
	PGconn *conn;
	int r;

	if (argc != 3 || strcmp(argv[1], "show") != 0) {
		fprintf(stderr, "usage: hookrun jobs show ID\n");
		return EXIT_FAILURE;
	}
	conn = cli_connect(c);
	if (!conn)
		return EXIT_FAILURE;
	r = cli_jobs_show(conn, argv[2], stdout, stderr);
	db_close(conn);
	if (r == -EINVAL)
		fprintf(stderr, "hookrun jobs show: '%s' is not a job id (a UUID)\n", argv[2]);
	else if (r == -ENOENT)
		fprintf(stderr, "hookrun jobs show: no job %s\n", argv[2]);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* hookrun deliveries show ID | replay ID [--force]: exit 0, or 1 with the reason on stderr
 * (a replay whose route could not be used exits 1 too: it made no job). */
static int cli_deliveries(const struct config *c, int argc, char **argv)
{
	bool show = argc == 3 && strcmp(argv[1], "show") == 0;
	bool force = argc == 4 && strcmp(argv[3], "--force") == 0;
	bool replay = (argc == 3 || force) && strcmp(argv[1], "replay") == 0;
	PGconn *conn;
	int r;

	if (!show && !replay) {
		fprintf(stderr, "usage: hookrun deliveries show ID\n"
		                "       hookrun deliveries replay ID [--force]\n");
		return EXIT_FAILURE;
	}
	conn = cli_connect(c);
	if (!conn)
		return EXIT_FAILURE;
	r = show ? cli_deliveries_show(conn, argv[2], stdout, stderr)
	         : cli_deliveries_replay(conn, c, argv[2], force, stdout, stderr);
	db_close(conn);
	if (r == -EINVAL)
		fprintf(stderr, "hookrun deliveries %s: '%s' is not a delivery id (a UUID)\n",
		        argv[1], argv[2]);
	else if (r == -ENOENT)
		fprintf(stderr, "hookrun deliveries %s: no delivery %s\n", argv[1], argv[2]);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* hookrun tokens ... or audit ...: its handler on a connection. */
static int cli_database_command(const struct config *c, int argc, char **argv)
{
	bool tokens = strcmp(argv[0], "tokens") == 0;
	PGconn *conn;
	int rc;

	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		(tokens ? cli_tokens_usage : cli_audit_usage)(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : EXIT_SUCCESS;
	}
	conn = cli_connect(c);
	if (!conn)
		return EXIT_FAILURE;
	rc = tokens ? cli_tokens_handle(conn, argc, argv, stdout, stderr)
	            : cli_audit_handle(conn, c, argc, argv, stdout, stderr);
	db_close(conn);
	return rc;
}

/* The API token: --token-file's first line, or api_token of the configuration (the file,
 * HOOKRUN_TOKEN or HOOKRUN_TOKEN_FILE); a new string, or NULL when there is none (after
 * printing why when a file could not be read). */
static char *cli_token(const struct cli *cli, const struct config *c, bool *ret_broken)
{
	char line[256] = "";
	FILE *f;

	*ret_broken = false;
	if (!cli->token_file)
		return c->api_token && *c->api_token ? xstrdup(c->api_token) : NULL;
	f = fopen(cli->token_file, "r");
	if (!f || !fgets(line, sizeof(line), f)) {
		fprintf(stderr, "hookrun: cannot read the token from %s\n", cli->token_file);
		if (f)
			fclose(f);
		*ret_broken = true;
		return NULL;
	}
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	return xstrdup(line);
}

/* jobs or deliveries over the HTTP API with the token; 2 without one. */
static int cli_remote(const struct cli *cli, const struct config *c, char *token, int argc,
                      char **argv)
{
	const char *url = cli->api_url ? cli->api_url : c->api_url;
	struct cli_api *api;
	int rc;

	if (!token) {
		fprintf(stderr,
		        "hookrun %s: no API token: --token-file, HOOKRUN_TOKEN or "
		        "HOOKRUN_TOKEN_FILE (`hookrun tokens create` makes one)\n",
		        argv[0]);
		return 2;
	}
	api = cli_api_new(url, token);
	rc = strcmp(argv[0], "jobs") == 0
	         ? cli_jobs_api_handle(api, argc, argv, stdout, stderr)
	         : cli_deliveries_api_handle(api, argc, argv, stdout, stderr);
	cli_api_free(api);
	explicit_bzero(token, strlen(token));
	return rc;
}

/* hookrun jobs ... and deliveries ...: over the API with a token; jobs show and deliveries
 * without one, straight in the database. */
static int cli_jobs_or_deliveries(const struct cli *cli, int argc, char **argv)
{
	bool jobs = strcmp(argv[0], "jobs") == 0, broken;
	bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
	/* They never verify a webhook: the sources' secrets need not be at hand. */
	struct config *c = cli_config(cli, CONFIG_LOAD_SECRETS_OPTIONAL);
	char *token;
	int rc;

	if (!c)
		return EXIT_FAILURE;
	if (help) {
		jobs ? cli_jobs_api_usage(stdout) : cli_deliveries_api_usage(stdout);
		config_free(c);
		return EXIT_SUCCESS;
	}
	token = cli_token(cli, c, &broken);
	if (token || broken ||
	    (jobs && argc >= 2 && strcmp(argv[1], "show") != 0 && cli_jobs_api_owns(argv[1])))
		rc = broken ? 2 : cli_remote(cli, c, token, argc, argv);
	else
		rc = jobs ? cli_jobs(c, argc, argv) : cli_deliveries(c, argc, argv);
	free(token);
	config_free(c);
	return rc;
}

/* Parse the options that follow a command: 0, 1 for --help, or -EINVAL. */
static int cli_command_args(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"status", no_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		if (c == 'd')
			cli->migrations_dir = optarg;
		else if (c == 's')
			cli->status = true;
		else if (c == 'h')
			return 1;
		else
			return -EINVAL;
	}
	return optind == argc ? 0 : -EINVAL;
}

/* Entry point. */
int main(int argc, char **argv)
{
	struct cli cli = {.config_path = getenv("HOOKRUN_CONFIG")};
	int i = 1, rc;

	while (i + 1 < argc) {
		if (strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0)
			cli.config_path = argv[i + 1];
		else if (strcmp(argv[i], "--api-url") == 0)
			cli.api_url = argv[i + 1];
		else if (strcmp(argv[i], "--token-file") == 0)
			cli.token_file = argv[i + 1];
		else
			break;
		i += 2;
	}
	if (i >= argc || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
		usage(i >= argc ? stderr : stdout);
		return i >= argc ? EXIT_FAILURE : EXIT_SUCCESS;
	}
	if (strcmp(argv[i], "version") == 0 || strcmp(argv[i], "--version") == 0) {
		printf("hookrun %s\n", HOOKRUN_VERSION);
		return EXIT_SUCCESS;
	}
	if (strcmp(argv[i], "jobs") == 0 || strcmp(argv[i], "deliveries") == 0)
		return cli_jobs_or_deliveries(&cli, argc - i, argv + i);
	if (strcmp(argv[i], "tokens") == 0 || strcmp(argv[i], "audit") == 0) {
		struct config *tc = cli_config(&cli, CONFIG_LOAD_SECRETS_OPTIONAL);
		if (!tc)
			return EXIT_FAILURE;
		rc = cli_database_command(tc, argc - i, argv + i);
		config_free(tc);
		return rc;
	}
	rc = cli_command_args(argc - i, argv + i, &cli);
	if (rc != 0) {
		usage(rc > 0 ? stdout : stderr);
		return rc > 0 ? EXIT_SUCCESS : 2;
	}
	struct config *c = cli_config(&cli, 0);
	if (!c)
		return EXIT_FAILURE;
	log_setup("cli", c->log_level, c->log_format);
	if (strcmp(argv[i], "migrate") == 0) {
		rc = cli_migrate(&cli, c);
	} else if (strcmp(argv[i], "config") == 0) {
		config_print(c, stdout);
		rc = EXIT_SUCCESS;
	} else {
		fprintf(stderr, "hookrun: unknown command '%s'\n", argv[i]);
		usage(stderr);
		rc = EXIT_FAILURE;
	}
	config_free(c);
	return rc;
}
