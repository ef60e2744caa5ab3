/* The options and configuration loading every hookrun service shares (service.h). */
#include "service.h"

#include <getopt.h>
#include <stdio.h>

#include "config.h"
#include "hookrun_build.h"
#include "xalloc.h"

/* Print the usage of the service called name. */
static void service_usage(FILE *f, const char *name)
{
	fprintf(f,
	        "usage: %s [--config FILE] [--print-config] [--check-config]\n"
	        "  --config FILE   INI file (default: $HOOKRUN_CONFIG); HOOKRUN_* variables "
	        "override it\n"
	        "  --print-config  print the effective configuration, secrets masked, and exit\n"
	        "  --check-config  validate the configuration and exit\n"
	        "  --version       print the version and exit\n",
	        name);
}

int service_args_parse(int argc, char **argv, const char *name, const char *default_config,
                       struct service_args *ret)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"print-config", no_argument, NULL, 'p'},
	    {"check-config", no_argument, NULL, 'k'}, {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},         {0},
	};
	int c;

	*ret = (struct service_args){.config_path = default_config};
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			ret->config_path = optarg;
			break;
		case 'p':
			ret->print_config = true;
			break;
		case 'k':
			ret->check_config = true;
			break;
		case 'V':
			printf("%s %s\n", name, HOOKRUN_VERSION);
			return 1;
		case 'h':
			service_usage(stdout, name);
			return 1;
		default:
			service_usage(stderr, name);
			return -1;
		}
	}
	return 0;
}

struct config *service_config_load(const char *name, const char *path, char *const *envp)
{
	struct config *c = NULL;
	_cleanup_free_ char *err = NULL;

	if (config_load(path, envp, &c, &err) < 0) {
		fprintf(stderr, "%s: %s\n", name, err);
		return NULL;
	}
	return c;
}
