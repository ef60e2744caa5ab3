/* Embedded API v1 of the simulated Versori (/api/embedded/v1): activations of integrations
 * with their dynamic variables, and the health check; hubs, hub users and integration
 * management answer 501. The organisation comes from the credential. Pure; never blocks. */
#pragma once

#include <stddef.h>

#include "sim_call.h"

extern const struct sim_route sim_embedded_routes[];
extern const size_t sim_embedded_n_routes;
