/* The versori-sim HTTP server: serves the simulated API (sim_handle()) with faults applied
 * (sim_faults, timers on the loop), the /_sim/ admin endpoint (state, call counts, switches,
 * faults, reset, health), an X-Request-Id on every answer and one log line per API call.
 * Runs on the simulator's event loop; never blocks (sim_server_state_save() writes a file and is
 * meant for shutdown). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "xalloc.h"

struct event_base;
struct sim_faults;
struct sim_server;

struct sim_server_options {
	const char *addr; /* listen address, e.g. "127.0.0.1" */
	int port;         /* 0: any free port */
	/* The fixture: POST /_sim/reset rebuilds the state from it (a reference is kept). */
	const json_t *fixture;
	/* The state to start from (e.g. a saved state); NULL starts from the fixture. */
	const json_t *initial;
	/* "name=value" switches applied at start and after every reset (borrowed during new). */
	const char *const *switches;
	size_t n_switches;
	/* Clock in milliseconds since the epoch; NULL for the real-time clock. */
	int64_t (*now_ms)(void);
};

/* Build the simulator from the options, take ownership of faults (not NULL) and start
 * listening. On failure returns -EINVAL (bad fixture or switch) or -EIO (cannot listen) with a
 * message in *ret_error (free it); faults are freed then too. */
_warn_unused_result_ int sim_server_new(struct event_base *base, const struct sim_server_options *o,
                                        struct sim_faults *owned_faults, struct sim_server **ret,
                                        char **ret_error);
/* Stop accepting new connections. */
void sim_server_stop_accepting(struct sim_server *s);
/* Free; takes NULL. Calls still held by latency or stall faults are dropped (their
 * connections close without an answer). */
void sim_server_free(struct sim_server *s);
/* The port actually bound. */
int sim_server_port(const struct sim_server *s);
/* Number of calls held by latency or stall faults right now. */
size_t sim_server_pending(const struct sim_server *s);

/* Write the current state (sim_state_to_json()) to path atomically (temporary file in the same
 * directory, mode 0600, fsync, rename); 0 or negative errno. */
_warn_unused_result_ int sim_server_state_save(const struct sim_server *s, const char *path);
