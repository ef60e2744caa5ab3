/* Job kind activation.provision, Embedded v1 flavour (parameters.integrationId and hubId):
 * exactly one activation of the integration for the end user (by externalId, in the hub),
 * bound to the job's existing connections (parameters.connections: {templateId:
 * connectionId}), with the desired dynamic variables. Check, then act: the end user's
 * activations of the integration are listed first; one that exists gets the desired
 * variables merged into its own (one PUT, none when they already hold). The end user must
 * exist: Embedded v1 end users are made in Versori with their primary connection. */
#pragma once

#include "item_run.h"

void activation_embedded_run(struct item_run *r);
