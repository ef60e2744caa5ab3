/* ZeroMQ sockets on the event loop (see queue.h). */
#include "queue.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <zmq.h>

#include "xalloc.h"

/* One context per process, shared by its sockets; it lives as long as any of them. */
static void *zctx;
static unsigned zctx_users;

struct queue {
	void *sock;
	enum queue_role role;
	struct event *ev; /* the socket's ZMQ_FD: readable means "look at ZMQ_EVENTS" */
	queue_on_msg on_msg;
	void *userdata;
	unsigned long long bad_frames;
};

/* "what: strerror" as a new string, from zmq_errno(). */
static char *zerr(const char *what)
{
	return xasprintf("%s: %s", what, zmq_strerror(zmq_errno()));
}

/* Read one whole message (every part); false when none is waiting. Parts past the second
 * are counted in *ret_parts but not kept. */
static bool recv_message(struct queue *q, struct queue_peer *peer, unsigned char *buf,
                         size_t *ret_len, size_t *ret_parts)
{
	size_t parts = 0;
	int more = 1;

	*ret_len = 0;
	peer->len = 0;
	while (more) {
		zmq_msg_t part;
		size_t more_size = sizeof(more);
		size_t n;

		zmq_msg_init(&part);
		if (zmq_msg_recv(&part, q->sock, parts == 0 ? ZMQ_DONTWAIT : 0) < 0) {
			zmq_msg_close(&part);
			*ret_parts = parts;
			return parts > 0; /* parts of one message arrive together */
		}
		n = zmq_msg_size(&part);
		if (q->role == QUEUE_ROUTER && parts == 0) {
			peer->len = n < QUEUE_PEER_MAX ? n : QUEUE_PEER_MAX;
			memcpy(peer->id, zmq_msg_data(&part), peer->len);
		} else if (parts == (q->role == QUEUE_ROUTER ? 1u : 0u)) {
			*ret_len = n;
			if (n <= WIRE_MSG_MAX)
				memcpy(buf, zmq_msg_data(&part), n);
		}
		parts++;
		if (zmq_getsockopt(q->sock, ZMQ_RCVMORE, &more, &more_size) < 0)
			more = 0;
		zmq_msg_close(&part);
	}
	*ret_parts = parts;
	return true;
}

/* Deliver every message waiting on the socket. ZMQ_FD is edge-triggered: keep reading until
 * ZMQ_EVENTS says nothing is left, or the next wake-up may never come. */
static void drain(struct queue *q)
{
	for (;;) {
		unsigned char buf[WIRE_MSG_MAX];
		struct queue_peer peer;
		struct wire_msg m;
		size_t len, parts, want = q->role == QUEUE_ROUTER ? 2 : 1;
		int events = 0, r;
		size_t size = sizeof(events);

		if (zmq_getsockopt(q->sock, ZMQ_EVENTS, &events, &size) < 0 ||
		    !(events & ZMQ_POLLIN))
			return;
		if (!recv_message(q, &peer, buf, &len, &parts))
			return;
		r = parts == want && len <= WIRE_MSG_MAX ? wire_decode(buf, len, &m) : -EBADMSG;
		if (r < 0)
			q->bad_frames++;
		q->on_msg(q->userdata, &peer, r < 0 ? NULL : &m, r);
	}
}

/* The socket's descriptor is readable: ZeroMQ has news (messages, or state changes). */
static void on_fd(evutil_socket_t fd, short what, void *arg)
{
	drain(arg);
}

/* Set an int socket option; false on failure. */
static bool set_int(void *sock, int option, int value)
{
	return zmq_setsockopt(sock, option, &value, sizeof(value)) == 0;
}

struct queue *queue_new(struct event_base *base, enum queue_role role, queue_on_msg on_msg,
                        void *userdata, char **ret_error)
{
	struct queue *q;
	int64_t max_size = WIRE_MSG_MAX + QUEUE_PEER_MAX;
	int fd;
	size_t fd_size = sizeof(fd);

	if (!zctx && !(zctx = zmq_ctx_new())) {
		*ret_error = zerr("zmq_ctx_new");
		return NULL;
	}
	zctx_users++;
	q = xcalloc(1, sizeof(*q));
	q->role = role;
	q->on_msg = on_msg;
	q->userdata = userdata;
	q->sock = zmq_socket(zctx, role == QUEUE_ROUTER ? ZMQ_ROUTER : ZMQ_DEALER);
	if (!q->sock) {
		*ret_error = zerr("zmq_socket");
		queue_free(q);
		return NULL;
	}
	if (!set_int(q->sock, ZMQ_LINGER, 0) || !set_int(q->sock, ZMQ_RECONNECT_IVL, 100) ||
	    !set_int(q->sock, ZMQ_RECONNECT_IVL_MAX, 5000) ||
	    zmq_setsockopt(q->sock, ZMQ_MAXMSGSIZE, &max_size, sizeof(max_size)) < 0 ||
	    (role == QUEUE_ROUTER && !set_int(q->sock, ZMQ_ROUTER_MANDATORY, 1)) ||
	    zmq_getsockopt(q->sock, ZMQ_FD, &fd, &fd_size) < 0) {
		*ret_error = zerr("zmq_setsockopt");
		queue_free(q);
		return NULL;
	}
	q->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_fd, q);
	if (!q->ev || event_add(q->ev, NULL) < 0) {
		*ret_error = xstrdup("cannot watch the ZeroMQ socket on the event loop");
		queue_free(q);
		return NULL;
	}
	return q;
}

int queue_bind(struct queue *q, const char *endpoint, char **ret_endpoint, char **ret_error)
{
	char last[256];
	size_t size = sizeof(last);

	if (zmq_bind(q->sock, endpoint) < 0) {
		int e = zmq_errno();

		*ret_error = xasprintf("bind %s: %s", endpoint, zmq_strerror(e));
		return -e;
	}
	if (ret_endpoint) {
		if (zmq_getsockopt(q->sock, ZMQ_LAST_ENDPOINT, last, &size) < 0) {
			*ret_error = zerr("ZMQ_LAST_ENDPOINT");
			return -EIO;
		}
		*ret_endpoint = xstrndup(last, size);
	}
	return 0;
}

int queue_connect(struct queue *q, const char *endpoint, char **ret_error)
{
	if (zmq_connect(q->sock, endpoint) < 0) {
		int e = zmq_errno();

		*ret_error = xasprintf("connect %s: %s", endpoint, zmq_strerror(e));
		return -e;
	}
	return 0;
}

int queue_send(struct queue *q, const struct queue_peer *peer, const struct wire_msg *m)
{
	unsigned char buf[WIRE_MSG_MAX];
	size_t n = wire_encode(m, buf);
	int r = 0;

	if (n == 0 || (q->role == QUEUE_ROUTER) != (peer != NULL))
		return -EINVAL;
	if ((peer && zmq_send(q->sock, peer->id, peer->len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) ||
	    zmq_send(q->sock, buf, n, ZMQ_DONTWAIT) < 0)
		r = -zmq_errno();
	/* A send can consume the descriptor's edge for messages that arrived meanwhile: look
	 * again from the loop, not from here (the caller may be in the callback). */
	event_active(q->ev, EV_READ, 0);
	return r;
}

unsigned long long queue_bad_frames(const struct queue *q)
{
	return q->bad_frames;
}

void queue_free(struct queue *q)
{
	if (!q)
		return;
	if (q->ev)
		event_free(q->ev);
	if (q->sock)
		zmq_close(q->sock);
	free(q);
	if (--zctx_users == 0) {
		zmq_ctx_term(zctx);
		zctx = NULL;
	}
}
