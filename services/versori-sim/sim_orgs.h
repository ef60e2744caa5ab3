/* Organisations API v1 of the simulated Versori (/api/organisations/v1): the public key of a
 * signing key (unauthenticated) and an organisation's keys; the rest answers 501. Pure. */
#pragma once

#include <stddef.h>

#include "sim_call.h"

extern const struct sim_route sim_orgs_routes[];
extern const size_t sim_orgs_n_routes;
