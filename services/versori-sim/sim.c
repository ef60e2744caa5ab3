/* The simulated Versori API: state and handler (stub until the core lands). */
#include "sim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "xalloc.h"

struct sim {
	int unused;
};

/* An empty simulator. */
int sim_new(const json_t *fixture, struct sim **ret, char *err, size_t errlen)
{
	*ret = xcalloc(1, sizeof(**ret));
	return 0;
}

/* Free; takes NULL. */
void sim_free(struct sim *s)
{
	free(s);
}

/* No switches yet. */
int sim_switch_set(struct sim *s, const char *name, const char *value)
{
	return -EINVAL;
}

/* No switches yet. */
json_t *sim_switches_to_json(const struct sim *s)
{
	return json_object();
}

/* No state yet. */
json_t *sim_state_to_json(const struct sim *s)
{
	return json_object();
}

/* Nothing is matched yet. */
const char *sim_route_name(const struct http_req *req)
{
	return "unmatched";
}

/* Everything answers 501 for now. */
void sim_handle(struct sim *s, const struct http_req *req, int64_t now_ms,
		struct sim_response *ret)
{
	static const char body[] = "{\"code\":\"501000\",\"message\":\"not simulated yet\"}";

	*ret = (struct sim_response){.status = 501, .route = "unmatched"};
	ret->body = xstrdup(body);
	ret->body_len = sizeof(body) - 1;
}

/* Free the body. */
void sim_response_fini(struct sim_response *r)
{
	free(r->body);
	r->body = NULL;
}
