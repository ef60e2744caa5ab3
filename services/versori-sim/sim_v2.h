/* Platform API v2 of the simulated Versori (/api/v2/o/{org}/...): end users, activations,
 * variables, projects, connection templates, systems, connections, schedulers; the
 * documented-but-unsimulated families answer 501. Used by versori-sim's router; pure. */
#pragma once

#include <stddef.h>

#include "sim_call.h"

extern const struct sim_route sim_v2_routes[];
extern const size_t sim_v2_n_routes;
