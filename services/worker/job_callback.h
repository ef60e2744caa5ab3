/* job.callback: deliver a finished job's event to the URL its job named, a POST signed the
 * Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature) with the
 * organisation's callback_secret. 2xx: delivered; 408, 425, 429 and 5xx or no answer: retried
 * like any item; any other answer: failed. Runs on the worker's loop. */
#pragma once

#include "item_run.h"

void job_callback_run(struct item_run *r);
