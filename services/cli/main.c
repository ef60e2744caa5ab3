/* hookrun: the operator's command line. Wiring only: each command calls into common/. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_api.h"
#include "cli_deliveries.h"
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
	bool status;
};

/* Print usage. */
static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: hookrun [--config FILE] COMMAND [OPTIONS]\n"
	    "\n"
	    "commands:\n"
	    "  migrate [--dir DIR] [--status]  apply pending migrations (or list them)\n"
	    "  config                          print the effective configuration, secrets masked\n"
	    "  jobs show ID                    a job: state, item counts, timings, failed items\n"
	    "  jobs submit|list|items|cancel|retry ...\n"
	    "                                  jobs over the HTTP API (hookrun jobs --help)\n"
	    "  deliveries show ID              a stored delivery and every routing of it\n"
	    "  deliveries replay ID [--force]  route a stored delivery again with today's\n"
	    "                                  configuration (--force: even if it made a job)\n"
	    "  tokens create --name NAME --org ORG[,ORG...] [--access read|write]\n"
	    "                [--expires INTERVAL]\n"
	    "                                  a bearer token for the jobs API, printed once\n"
	    "  tokens list [--json]            every token: scope, state, expiry, uses\n"
	    "  tokens revoke ID                revoke a token\n"
	    "  version                         print the version\n"
	    "\n"
	    "The database URL comes from db_url in the config file, HOOKRUN_DB_URL or\n"
	    "HOOKRUN_DB_URL_FILE; migrations from --dir, HOOKRUN_MIGRATIONS_DIR or %s.\n",
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

/* hookrun tokens ...: cli_tokens_handle() on a connection. */
static int cli_tokens(const struct config *c, int argc, char **argv)
{
	PGconn *conn;
	int rc;

	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		cli_tokens_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : EXIT_SUCCESS;
	}
	conn = cli_connect(c);
	if (!conn)
		return EXIT_FAILURE;
	rc = cli_tokens_handle(conn, argc, argv, stdout, stderr);
	db_close(conn);
	return rc;
}

/* The API token: HOOKRUN_TOKEN, or the first line of the file HOOKRUN_TOKEN_FILE names; a
 * new string, or NULL after printing why there is none. */
static char *cli_token(void)
{
	const char *t = getenv("HOOKRUN_TOKEN"), *path = getenv("HOOKRUN_TOKEN_FILE");
	char line[256] = "";
	FILE *f;

	if (t && *t)
		return xstrdup(t);
	if (!path || !*path) {
		fprintf(stderr,
		        "hookrun jobs: no API token: set HOOKRUN_TOKEN or HOOKRUN_TOKEN_FILE "
		        "(`hookrun tokens create` makes one)\n");
		return NULL;
	}
	f = fopen(path, "r");
	if (!f || !fgets(line, sizeof(line), f)) {
		fprintf(stderr, "hookrun jobs: cannot read the token from %s\n", path);
		if (f)
			fclose(f);
		return NULL;
	}
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	return xstrdup(line);
}

/* hookrun jobs submit|list|items|cancel|retry: over the HTTP API at HOOKRUN_API_URL. */
static int cli_jobs_remote(int argc, char **argv)
{
	const char *url = getenv("HOOKRUN_API_URL");
	_cleanup_free_ char *token = NULL;
	struct cli_api *api;
	int rc;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		cli_jobs_api_usage(stdout);
		return EXIT_SUCCESS;
	}
	token = cli_token();
	if (!token)
		return 2;
	api = cli_api_new(url && *url ? url : "http://127.0.0.1:8080", token);
	rc = cli_jobs_api_handle(api, argc, argv, stdout, stderr);
	cli_api_free(api);
	explicit_bzero(token, strlen(token));
	return rc;
}

/* Parse the options that follow a command. */
static int cli_command_args(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"status", no_argument, NULL, 's'},
	    {0},
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
		if (c == 'd')
			cli->migrations_dir = optarg;
		else if (c == 's')
			cli->status = true;
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

	if (i + 1 < argc && (strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0)) {
		cli.config_path = argv[i + 1];
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
	if (strcmp(argv[i], "jobs") == 0 && i + 1 < argc &&
	    (cli_jobs_api_owns(argv[i + 1]) || strcmp(argv[i + 1], "--help") == 0))
		return cli_jobs_remote(argc - i, argv + i);
	if (strcmp(argv[i], "jobs") == 0 || strcmp(argv[i], "deliveries") == 0 ||
	    strcmp(argv[i], "tokens") == 0) {
		/* They read the database and sources' routing, never verify a webhook: the
		 * sources' secrets need not be at hand. */
		struct config *jc = cli_config(&cli, CONFIG_LOAD_SECRETS_OPTIONAL);
		if (!jc)
			return EXIT_FAILURE;
		if (strcmp(argv[i], "tokens") == 0)
			rc = cli_tokens(jc, argc - i, argv + i);
		else
			rc = strcmp(argv[i], "jobs") == 0 ? cli_jobs(jc, argc - i, argv + i)
			                                  : cli_deliveries(jc, argc - i, argv + i);
		config_free(jc);
		return rc;
	}
	if (cli_command_args(argc - i, argv + i, &cli) < 0) {
		usage(stderr);
		return EXIT_FAILURE;
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
