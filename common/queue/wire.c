/* The dispatcher <-> worker messages as bytes (see wire.h). */
#include "wire.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* A writer over a caller's buffer, which WIRE_MSG_MAX bounds. */
struct put {
	unsigned char *p;
	size_t n;
};

static void put_u8(struct put *w, unsigned v)
{
	w->p[w->n++] = (unsigned char)v;
}

static void put_u32(struct put *w, uint32_t v)
{
	for (int s = 24; s >= 0; s -= 8)
		put_u8(w, (v >> s) & 0xff);
}

static void put_u64(struct put *w, uint64_t v)
{
	put_u32(w, (uint32_t)(v >> 32));
	put_u32(w, (uint32_t)v);
}

/* Whether s is a name the wire carries: 1..WIRE_NAME_MAX bytes, none a control byte. */
static bool name_ok(const char *s, size_t len)
{
	if (len == 0 || len > WIRE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* Write a name (checked by the caller) as its length and bytes. */
static void put_name(struct put *w, const char *s, size_t len)
{
	put_u8(w, (unsigned)len);
	memcpy(w->p + w->n, s, len);
	w->n += len;
}

/* The length of a name field's string, or WIRE_NAME_MAX + 1 when it is not terminated. */
static size_t name_len(const char s[static WIRE_NAME_MAX + 1])
{
	const char *nul = memchr(s, '\0', WIRE_NAME_MAX + 1);

	return nul ? (size_t)(nul - s) : WIRE_NAME_MAX + 1;
}

size_t wire_encode(const struct wire_msg *m, unsigned char buf[static WIRE_MSG_MAX])
{
	struct put w = {buf, 0};
	size_t len;

	put_u8(&w, WIRE_VERSION);
	put_u8(&w, (unsigned)m->type);
	switch (m->type) {
	case WIRE_HELLO:
		len = name_len(m->hello.name);
		if (!name_ok(m->hello.name, len) || m->hello.slots < 1 ||
		    m->hello.slots > WIRE_SLOTS_MAX)
			return 0;
		put_name(&w, m->hello.name, len);
		put_u32(&w, m->hello.slots);
		put_u32(&w, m->hello.pid);
		break;
	case WIRE_CREDIT:
		if (m->credit.n < 1 || m->credit.n > WIRE_SLOTS_MAX)
			return 0;
		put_u32(&w, m->credit.n);
		break;
	case WIRE_TASK:
		put_u64(&w, m->task.item_id);
		put_u64(&w, m->task.token);
		break;
	case WIRE_DONE:
		if ((unsigned)m->done.outcome >= _WIRE_OUTCOME_MAX)
			return 0;
		put_u64(&w, m->done.item_id);
		put_u64(&w, m->done.token);
		put_u8(&w, (unsigned)m->done.outcome);
		break;
	case WIRE_HEARTBEAT:
		put_u64(&w, m->heartbeat.seq);
		break;
	case WIRE_THROTTLE:
		len = name_len(m->throttle.organisation);
		if (!name_ok(m->throttle.organisation, len))
			return 0;
		put_name(&w, m->throttle.organisation, len);
		put_u32(&w, m->throttle.retry_after_ms);
		break;
	case WIRE_WANT:
	case WIRE_GRANT:
		len = name_len(m->permits.organisation);
		if (!name_ok(m->permits.organisation, len) || m->permits.n < 1 ||
		    m->permits.n > WIRE_SLOTS_MAX)
			return 0;
		put_name(&w, m->permits.organisation, len);
		put_u32(&w, m->permits.n);
		break;
	case WIRE_BYE:
		break;
	default:
		return 0;
	}
	return w.n;
}

/* A reader over one frame; any read past its end marks it bad. */
struct get {
	const unsigned char *p;
	size_t len, off;
	bool bad;
};

static bool get_has(struct get *r, size_t n)
{
	if (r->bad || r->len - r->off < n) {
		r->bad = true;
		return false;
	}
	return true;
}

static unsigned get_u8(struct get *r)
{
	return get_has(r, 1) ? r->p[r->off++] : 0;
}

static uint32_t get_u32(struct get *r)
{
	uint32_t v = 0;

	if (!get_has(r, 4))
		return 0;
	for (int i = 0; i < 4; i++)
		v = v << 8 | r->p[r->off++];
	return v;
}

static uint64_t get_u64(struct get *r)
{
	uint64_t hi = get_u32(r);

	return hi << 32 | get_u32(r);
}

/* A name into out (WIRE_NAME_MAX + 1 bytes), NUL-terminated; bad unless name_ok(). */
static void get_name(struct get *r, char out[static WIRE_NAME_MAX + 1])
{
	size_t len = get_u8(r);

	out[0] = '\0';
	if (r->bad || !get_has(r, len) || !name_ok((const char *)r->p + r->off, len)) {
		r->bad = true;
		return;
	}
	memcpy(out, r->p + r->off, len);
	out[len] = '\0';
	r->off += len;
}

int wire_decode(const unsigned char *buf, size_t len, struct wire_msg *ret)
{
	struct get r = {buf, len, 0, false};
	unsigned version, type;

	memset(ret, 0, sizeof(*ret));
	if (len < 2)
		return -EBADMSG;
	version = get_u8(&r);
	if (version != WIRE_VERSION)
		return -EPROTONOSUPPORT;
	type = get_u8(&r);
	ret->type = (enum wire_type)type;
	switch (type) {
	case WIRE_HELLO:
		get_name(&r, ret->hello.name);
		ret->hello.slots = get_u32(&r);
		ret->hello.pid = get_u32(&r);
		if (ret->hello.slots < 1 || ret->hello.slots > WIRE_SLOTS_MAX)
			r.bad = true;
		break;
	case WIRE_CREDIT:
		ret->credit.n = get_u32(&r);
		if (ret->credit.n < 1 || ret->credit.n > WIRE_SLOTS_MAX)
			r.bad = true;
		break;
	case WIRE_TASK:
		ret->task.item_id = get_u64(&r);
		ret->task.token = get_u64(&r);
		break;
	case WIRE_DONE: {
		unsigned outcome;

		ret->done.item_id = get_u64(&r);
		ret->done.token = get_u64(&r);
		outcome = get_u8(&r);
		if (outcome >= _WIRE_OUTCOME_MAX)
			r.bad = true;
		ret->done.outcome = (enum wire_outcome)outcome;
		break;
	}
	case WIRE_HEARTBEAT:
		ret->heartbeat.seq = get_u64(&r);
		break;
	case WIRE_THROTTLE:
		get_name(&r, ret->throttle.organisation);
		ret->throttle.retry_after_ms = get_u32(&r);
		break;
	case WIRE_WANT:
	case WIRE_GRANT:
		get_name(&r, ret->permits.organisation);
		ret->permits.n = get_u32(&r);
		if (ret->permits.n < 1 || ret->permits.n > WIRE_SLOTS_MAX)
			r.bad = true;
		break;
	case WIRE_BYE:
		break;
	default:
		return -EBADMSG;
	}
	if (r.bad || r.off != len) {
		memset(ret, 0, sizeof(*ret));
		return -EBADMSG;
	}
	return 0;
}

const char *wire_type_to_string(enum wire_type t)
{
	static const char *const names[_WIRE_TYPE_MAX] = {
	    [WIRE_HELLO] = "hello", [WIRE_CREDIT] = "credit",       [WIRE_TASK] = "task",
	    [WIRE_DONE] = "done",   [WIRE_HEARTBEAT] = "heartbeat", [WIRE_THROTTLE] = "throttle",
	    [WIRE_BYE] = "bye",     [WIRE_WANT] = "want",           [WIRE_GRANT] = "grant",
	};

	return (unsigned)t < _WIRE_TYPE_MAX && names[t] ? names[t] : "unknown";
}

const char *wire_outcome_to_string(enum wire_outcome o)
{
	static const char *const names[_WIRE_OUTCOME_MAX] = {
	    [WIRE_OUTCOME_SUCCEEDED] = "succeeded",
	    [WIRE_OUTCOME_FAILED] = "failed",
	    [WIRE_OUTCOME_RETRY] = "retry",
	    [WIRE_OUTCOME_FENCED] = "fenced",
	};

	return (unsigned)o < _WIRE_OUTCOME_MAX ? names[o] : "unknown";
}
