/* Job kind activation.variables (Platform v2): set the end user's activation variables in the
 * environment to the desired values: desired.variables merged with PATCH, or one variable
 * (desired.variable {name, value}) with PUT. Fails when the user has no activation there. */
#pragma once

#include "item_run.h"

void activation_variables_run(struct item_run *r);
