/* Job kind environment.variables (Platform v2): PATCH the environment's static variables to
 * desired.variables. The item's environment is desired.environmentId or the job's
 * parameters.environmentId; its externalId is only a label. */
#pragma once

#include "item_run.h"

void environment_variables_run(struct item_run *r);
