/* One ZeroMQ socket on a libevent loop, carrying wire messages: a ROUTER in the dispatcher
 * (hookrun-ingress), a DEALER in each worker. The only module that includes zmq.h.
 *
 * A DEALER connects (to one or several dispatchers) and reconnects by itself when one
 * restarts; messages sent while no dispatcher is reachable wait in the socket (up to its
 * high-water mark). A ROUTER binds and addresses each worker by the identity ZeroMQ gives
 * its connection; sending to a worker that has gone fails at once (-EHOSTUNREACH) instead of
 * vanishing. Frames that are not exactly one wire message are counted and dropped (the
 * callback hears of them), and frames over WIRE_MSG_MAX bytes make libzmq drop the peer, so a
 * misbehaving peer costs no memory. Nothing here blocks. */
#pragma once

#include <stddef.h>

#include "wire.h"

struct event_base;
struct queue;

enum queue_role {
	QUEUE_ROUTER, /* dispatcher: binds; messages carry the peer's identity */
	QUEUE_DEALER, /* worker: connects; one peer at a time from its point of view */
};

/* Longest peer identity ZeroMQ assigns (5 bytes by default; 255 at most). */
#define QUEUE_PEER_MAX 255

/* A peer as the ROUTER knows it; empty (len 0) on a DEALER. */
struct queue_peer {
	unsigned char id[QUEUE_PEER_MAX];
	size_t len;
};

/* A message arrived: m is a decoded wire message, or NULL with error set (-EBADMSG,
 * -EPROTONOSUPPORT) for a frame that is not one. Called from the loop; it may send, but it
 * must not free the queue. */
typedef void (*queue_on_msg)(void *userdata, const struct queue_peer *from,
                             const struct wire_msg *m, int error);

/* A new socket of role on base; NULL with *ret_error (a new string) on failure. */
struct queue *queue_new(struct event_base *base, enum queue_role role, queue_on_msg on_msg,
                        void *userdata, char **ret_error);
/* Bind to endpoint ("tcp://127.0.0.1:0" picks a free port); *ret_endpoint (may be NULL)
 * gets the endpoint as bound, a new string. Negative errno with *ret_error on failure. */
int queue_bind(struct queue *q, const char *endpoint, char **ret_endpoint, char **ret_error);
/* Connect to endpoint; ZeroMQ retries in the background until it answers. */
int queue_connect(struct queue *q, const char *endpoint, char **ret_error);
/* Send m to peer (a ROUTER's; NULL on a DEALER). 0; -EINVAL for a message wire_encode()
 * refuses; -EHOSTUNREACH for a peer the ROUTER no longer has; -EAGAIN when the peer's queue
 * is full (its high-water mark). */
int queue_send(struct queue *q, const struct queue_peer *peer, const struct wire_msg *m);
/* Frames dropped because they were not one wire message. */
unsigned long long queue_bad_frames(const struct queue *q);
/* Close the socket at once (queued messages are dropped: the work is in PostgreSQL) and
 * free q; NULL is ignored. Not from within the callback. */
void queue_free(struct queue *q);
