/* Job kind activation.provision (Platform v2): ensure the end user (create on 404, with
 * displayName), then exactly one activation in the environment binding every connection
 * template (existing connections from parameters.connections, or dynamic connections made
 * with the activation from parameters.dynamicConnections), with the desired variables; an
 * activation that exists already gets its variables patched. Check, then act. A job whose
 * parameters name an integrationId is the Embedded v1 flavour (activation_embedded.h). */
#pragma once

#include "item_run.h"

void activation_provision_run(struct item_run *r);
