/* The dispatcher's book of workers (see workers.h). A few hundred workers at most: an
 * array searched in order is simpler than a hash and fast enough. */
#include "workers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

struct worker {
	struct queue_peer peer;
	char name[WIRE_NAME_MAX + 1];
	uint32_t slots;
	uint32_t credits;
	uint64_t seen_ms;
};

struct workers {
	struct worker *v;
	size_t n, cap;
	size_t next; /* where workers_take() looks first */
	uint64_t silence_ms;
	uint64_t credits;
};

struct workers *workers_new(uint64_t silence_ms)
{
	struct workers *w = xcalloc(1, sizeof(*w));

	w->silence_ms = silence_ms;
	return w;
}

void workers_free(struct workers *w)
{
	if (!w)
		return;
	free(w->v);
	free(w);
}

/* The worker for peer, or NULL. */
static struct worker *find(const struct workers *w, const struct queue_peer *peer)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].peer.len == peer->len &&
		    memcmp(w->v[i].peer.id, peer->id, peer->len) == 0)
			return &w->v[i];
	return NULL;
}

/* Remove the worker at index i, keeping the others in order (the turn stays fair). */
static void remove_at(struct workers *w, size_t i)
{
	w->credits -= w->v[i].credits;
	memmove(&w->v[i], &w->v[i + 1], (w->n - i - 1) * sizeof(w->v[0]));
	w->n--;
	if (w->next > i)
		w->next--;
	if (w->next >= w->n)
		w->next = 0;
}

int workers_hello(struct workers *w, const struct queue_peer *peer, const char *name,
                  uint32_t slots, uint64_t now_ms)
{
	struct worker *k = find(w, peer);

	if (!k) {
		if (w->n == WORKERS_MAX)
			return -ENOSPC;
		if (w->n == w->cap) {
			w->cap = w->cap ? 2 * w->cap : 8;
			w->v = xreallocarray(w->v, w->cap, sizeof(w->v[0]));
		}
		k = &w->v[w->n++];
		memset(k, 0, sizeof(*k));
		k->peer = *peer;
	}
	w->credits -= k->credits;
	k->credits = 0;
	k->slots = slots;
	k->seen_ms = now_ms;
	snprintf(k->name, sizeof(k->name), "%s", name);
	return 0;
}

int workers_credit(struct workers *w, const struct queue_peer *peer, uint32_t n, uint64_t now_ms)
{
	struct worker *k = find(w, peer);
	uint32_t room;

	if (!k)
		return -ENOENT;
	k->seen_ms = now_ms;
	room = k->slots - k->credits;
	n = n < room ? n : room;
	k->credits += n;
	w->credits += n;
	return 0;
}

void workers_seen(struct workers *w, const struct queue_peer *peer, uint64_t now_ms)
{
	struct worker *k = find(w, peer);

	if (k)
		k->seen_ms = now_ms;
}

void workers_forget(struct workers *w, const struct queue_peer *peer)
{
	struct worker *k = find(w, peer);

	if (k)
		remove_at(w, (size_t)(k - w->v));
}

size_t workers_expire(struct workers *w, uint64_t now_ms)
{
	size_t dropped = 0;

	for (size_t i = 0; i < w->n;) {
		if (now_ms > w->v[i].seen_ms && now_ms - w->v[i].seen_ms > w->silence_ms) {
			remove_at(w, i);
			dropped++;
		} else {
			i++;
		}
	}
	return dropped;
}

bool workers_take(struct workers *w, struct queue_peer *ret_peer)
{
	if (w->credits == 0)
		return false;
	for (size_t tried = 0; tried < w->n; tried++) {
		struct worker *k = &w->v[w->next];

		w->next = (w->next + 1) % w->n;
		if (k->credits > 0) {
			k->credits--;
			w->credits--;
			*ret_peer = k->peer;
			return true;
		}
	}
	return false;
}

void workers_untake(struct workers *w, const struct queue_peer *peer)
{
	struct worker *k = find(w, peer);

	if (k && k->credits < k->slots) {
		k->credits++;
		w->credits++;
	}
}

void workers_each(const struct workers *w, workers_each_fn fn, void *userdata)
{
	for (size_t i = 0; i < w->n; i++)
		fn(userdata, &w->v[i].peer);
}

bool workers_known(const struct workers *w, const struct queue_peer *peer)
{
	return find(w, peer) != NULL;
}

uint64_t workers_slots(const struct workers *w)
{
	uint64_t n = 0;

	for (size_t i = 0; i < w->n; i++)
		n += w->v[i].slots;
	return n;
}

uint64_t workers_credits(const struct workers *w)
{
	return w->credits;
}

size_t workers_count(const struct workers *w)
{
	return w->n;
}

long long workers_credits_of(const struct workers *w, const struct queue_peer *peer)
{
	const struct worker *k = find(w, peer);

	return k ? (long long)k->credits : -1;
}
