/* Job kind activation.remove (Platform v2): delete every activation the end user has in the
 * environment, then the end user too when parameters.removeUser (or desired.removeUser) is
 * true. Already gone counts as done. */
#pragma once

#include "item_run.h"

void activation_remove_run(struct item_run *r);
