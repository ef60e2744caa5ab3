/* The messages between a dispatcher (hookrun-ingress, ZeroMQ ROUTER) and its workers
 * (hookrun-worker, DEALER), as bytes: a pure codec, no sockets (common/queue owns zmq.h).
 *
 * A message is one ZeroMQ frame: a protocol version byte, a type byte, then the type's
 * fields, big-endian and of fixed width, strings as a 1-byte length and that many bytes.
 * Messages are small hints; PostgreSQL holds the work (a task carries an item id and its
 * fencing token, never a payload), so a lost message costs a lease expiry, never an item.
 * Decoding is strict: the exact length for the type, no trailing bytes, strings without NUL
 * or control bytes, counts within range. Every message has exactly one encoding, so
 * decode(encode(m)) == m and encode(decode(b)) == b (the fuzz target checks both). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define WIRE_VERSION   1
/* Longest worker name or organisation name, in bytes. */
#define WIRE_NAME_MAX  64
/* Largest encoded message, in bytes (HELLO and THROTTLE with the longest name). */
#define WIRE_MSG_MAX   (2 + 1 + WIRE_NAME_MAX + 4 + 4)
/* Most slots a worker announces, and most credits in one CREDIT. */
#define WIRE_SLOTS_MAX 4096

enum wire_type {
	WIRE_HELLO = 1,     /* worker -> dispatcher: name, slots; (re)joins, no credit yet */
	WIRE_CREDIT = 2,    /* worker -> dispatcher: this many more tasks may be sent */
	WIRE_TASK = 3,      /* dispatcher -> worker: item id and fencing token; uses a credit */
	WIRE_DONE = 4,      /* worker -> dispatcher: the item is settled in PostgreSQL */
	WIRE_HEARTBEAT = 5, /* both ways: alive; seq echoes nothing, it only tells them apart */
	WIRE_THROTTLE = 6,  /* worker -> dispatcher: the organisation answered 429; pause it */
	WIRE_BYE = 7,       /* both ways: leaving; the sender's credits and tasks are void */
	WIRE_WANT = 8,      /* worker -> dispatcher: n more calls to an organisation are waiting */
	WIRE_GRANT = 9,     /* dispatcher -> worker: n calls to an organisation may start */
	_WIRE_TYPE_MAX,
};

/* How an item was settled, reported by DONE (for metrics; PostgreSQL has the truth). */
enum wire_outcome {
	WIRE_OUTCOME_SUCCEEDED = 0,
	WIRE_OUTCOME_FAILED = 1, /* for good */
	WIRE_OUTCOME_RETRY = 2,  /* queued again for later */
	WIRE_OUTCOME_FENCED = 3, /* the lease was lost: another worker holds the item now */
	_WIRE_OUTCOME_MAX,
};

struct wire_msg {
	enum wire_type type;
	union {
		struct {
			char name[WIRE_NAME_MAX + 1]; /* NUL-terminated, 1..WIRE_NAME_MAX bytes */
			uint32_t slots;               /* 1..WIRE_SLOTS_MAX */
			uint32_t pid;
		} hello;
		struct {
			uint32_t n; /* 1..WIRE_SLOTS_MAX */
		} credit;
		struct {
			uint64_t item_id;
			uint64_t token;
		} task;
		struct {
			uint64_t item_id;
			uint64_t token;
			enum wire_outcome outcome;
		} done;
		struct {
			uint64_t seq;
		} heartbeat;
		struct {
			char organisation[WIRE_NAME_MAX + 1]; /* NUL-terminated, 1..WIRE_NAME_MAX */
			uint32_t retry_after_ms;              /* how long to pause it */
		} throttle;
		struct {
			char organisation[WIRE_NAME_MAX + 1]; /* NUL-terminated, 1..WIRE_NAME_MAX */
			uint32_t n;                           /* 1..WIRE_SLOTS_MAX calls */
		} permits;                                    /* WANT and GRANT */
	};
};

/* Encode m into buf (at least WIRE_MSG_MAX bytes); its length, or 0 when m is not a valid
 * message (a field out of range, a name empty, too long or with a control byte). */
size_t wire_encode(const struct wire_msg *m, unsigned char buf[static WIRE_MSG_MAX]);
/* Decode one frame of len bytes into *ret. 0, -EPROTONOSUPPORT for another protocol
 * version, -EBADMSG for anything else that is not exactly one valid message. */
int wire_decode(const unsigned char *buf, size_t len, struct wire_msg *ret);
/* "hello", "credit", ... for logs and metrics; "unknown" out of range. */
const char *wire_type_to_string(enum wire_type t);
const char *wire_outcome_to_string(enum wire_outcome o);
