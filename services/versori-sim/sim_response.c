/* One answer of the simulated Versori API. */
#include "sim_response.h"

#include <stdlib.h>

/* Free the body. */
void sim_response_fini(struct sim_response *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}
