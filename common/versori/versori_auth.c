/* Versori credentials: API keys, static JWTs, and minted signing-key JWTs with a bounded cache. */
#include "versori_auth.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "signing_key.h"
#include "xalloc.h"

/* One minted token in the cache. */
struct auth_cache_entry {
	char *subject;
	char *header; /* "JWT <token>": a secret */
	int64_t exp;
	uint64_t last_used;
};

struct versori_auth {
	enum versori_auth_kind kind;
	char *header; /* API key and static JWT: the whole header value, a secret */
	struct signing_key *key;
	char *issuer;
	enum versori_auth_subject_mode subject_mode;
	char *subject;
	int64_t lifetime_s;
	struct auth_cache_entry *cache; /* VERSORI_AUTH_CACHE_MAX slots, n_cache used */
	size_t n_cache;
	uint64_t tick;
};

static const char *const kind_names[_VERSORI_AUTH_KIND_MAX] = {
    [VERSORI_AUTH_API_KEY] = "api_key",
    [VERSORI_AUTH_STATIC_JWT] = "static_jwt",
    [VERSORI_AUTH_SIGNING_KEY] = "signing_key",
};

/* The name of a credential kind, or NULL when out of range. */
const char *versori_auth_kind_to_string(enum versori_auth_kind k)
{
	return (unsigned)k < _VERSORI_AUTH_KIND_MAX ? kind_names[k] : NULL;
}

/* Wipe and free a secret string; takes NULL. */
static void secret_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* A credential token fit for a header: non-empty printable ASCII without spaces. */
static bool token_is_valid(const char *t)
{
	if (!t || !*t)
		return false;
	for (const unsigned char *p = (const unsigned char *)t; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return false;
	return true;
}

/* A credential that sends one fixed header value. */
static int auth_new_fixed(enum versori_auth_kind kind, const char *scheme, const char *token,
                          struct versori_auth **ret)
{
	struct versori_auth *a;

	if (!token_is_valid(token))
		return -EINVAL;
	a = xcalloc(1, sizeof(*a));
	a->kind = kind;
	a->header = xasprintf("%s %s", scheme, token);
	*ret = a;
	return 0;
}

/* An API key credential. */
int versori_auth_new_api_key(const char *key, struct versori_auth **ret)
{
	return auth_new_fixed(VERSORI_AUTH_API_KEY, "Bearer", key, ret);
}

/* A static JWT credential. */
int versori_auth_new_static_jwt(const char *token, struct versori_auth **ret)
{
	return auth_new_fixed(VERSORI_AUTH_STATIC_JWT, "JWT", token, ret);
}

/* A signing-key credential that mints tokens per subject. */
int versori_auth_new_signing_key(const struct versori_auth_signing_key_options *o,
                                 struct versori_auth **ret)
{
	struct signing_key *key = NULL;
	struct versori_auth *a;
	int r;

	if (!o || !token_is_valid(o->key_id) ||
	    (unsigned)o->subject_mode >= _VERSORI_AUTH_SUBJECT_MODE_MAX ||
	    (o->subject_mode == VERSORI_AUTH_SUBJECT_FIXED && (!o->subject || !*o->subject)) ||
	    o->lifetime_s < 0 || o->lifetime_s > VERSORI_AUTH_LIFETIME_MAX_S)
		return -EINVAL;
	r = signing_key_new(o->private_pem, o->private_pem_len, &key);
	if (r < 0)
		return r;
	a = xcalloc(1, sizeof(*a));
	a->kind = VERSORI_AUTH_SIGNING_KEY;
	a->key = key;
	a->issuer = signing_key_issuer(o->key_id);
	a->subject_mode = o->subject_mode;
	a->subject = o->subject && *o->subject ? xstrdup(o->subject) : NULL;
	a->lifetime_s = o->lifetime_s > 0 ? o->lifetime_s : VERSORI_AUTH_TOKEN_LIFETIME_S;
	a->cache = xcalloc(VERSORI_AUTH_CACHE_MAX, sizeof(*a->cache));
	*ret = a;
	return 0;
}

/* Free one cache entry's strings. */
static void cache_entry_clear(struct auth_cache_entry *e)
{
	free(e->subject);
	secret_free(e->header);
	*e = (struct auth_cache_entry){};
}

/* Remove entry e from the cache, moving the last entry into its slot. */
static void cache_remove(struct versori_auth *a, struct auth_cache_entry *e)
{
	cache_entry_clear(e);
	*e = a->cache[--a->n_cache];
	a->cache[a->n_cache] = (struct auth_cache_entry){};
}

/* Wipe and free the credential. */
void versori_auth_free(struct versori_auth *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_cache; i++)
		cache_entry_clear(&a->cache[i]);
	free(a->cache);
	secret_free(a->header);
	signing_key_free(a->key);
	free(a->issuer);
	free(a->subject);
	free(a);
}

/* The credential's kind. */
enum versori_auth_kind versori_auth_kind(const struct versori_auth *a)
{
	return a->kind;
}

/* Cached tokens. */
size_t versori_auth_cache_size(const struct versori_auth *a)
{
	return a->n_cache;
}

/* The subject a minted token for this call carries, or NULL when there is none. */
static const char *auth_subject(const struct versori_auth *a, const char *subject)
{
	if (a->subject_mode == VERSORI_AUTH_SUBJECT_FIXED)
		return a->subject;
	return subject && *subject ? subject : a->subject;
}

/* The cache slot for subject, or NULL. A linear scan: 1024 string compares cost far less than
 * the RSA signature a miss pays. */
static struct auth_cache_entry *cache_find(struct versori_auth *a, const char *subject)
{
	for (size_t i = 0; i < a->n_cache; i++)
		if (strcmp(a->cache[i].subject, subject) == 0)
			return &a->cache[i];
	return NULL;
}

/* A free slot for a new entry, evicting the least recently used one when full. */
static struct auth_cache_entry *cache_slot(struct versori_auth *a)
{
	struct auth_cache_entry *lru;

	if (a->n_cache < VERSORI_AUTH_CACHE_MAX)
		return &a->cache[a->n_cache++];
	lru = &a->cache[0];
	for (size_t i = 1; i < a->n_cache; i++)
		if (a->cache[i].last_used < lru->last_used)
			lru = &a->cache[i];
	cache_entry_clear(lru);
	return lru;
}

/* Mint a token for subject at now_s and store it in e. */
static int cache_entry_mint(struct versori_auth *a, struct auth_cache_entry *e, const char *subject,
                            int64_t now_s)
{
	struct signing_key_claims c = {
	    .iss = a->issuer,
	    .sub = (char *)subject,
	    .iat = now_s,
	    .exp = now_s + a->lifetime_s,
	};
	char *token = NULL;
	int r;

	r = signing_key_mint(a->key, &c, &token);
	if (r < 0)
		return r;
	if (!e->subject)
		e->subject = xstrdup(subject);
	secret_free(e->header);
	e->header = xasprintf("JWT %s", token);
	e->exp = c.exp;
	secret_free(token);
	return 0;
}

/* The header value for a minted token, from the cache when still fresh. */
static int auth_header_minted(struct versori_auth *a, const char *subject, int64_t now_s,
                              char **ret)
{
	const char *sub = auth_subject(a, subject);
	struct auth_cache_entry *e;
	/* A margin as long as the lifetime would make every token stale at birth. */
	int64_t margin = a->lifetime_s / 2 < VERSORI_AUTH_REFRESH_MARGIN_S
	                     ? a->lifetime_s / 2
	                     : VERSORI_AUTH_REFRESH_MARGIN_S;
	bool fresh;
	int r;

	if (!sub)
		return -EINVAL;
	e = cache_find(a, sub);
	fresh = e && now_s < e->exp - margin && now_s >= e->exp - a->lifetime_s;
	if (!fresh) {
		if (!e)
			e = cache_slot(a);
		r = cache_entry_mint(a, e, sub, now_s);
		if (r < 0) {
			/* Never leave a half-filled slot behind: drop it. */
			cache_remove(a, e);
			return r;
		}
	}
	e->last_used = ++a->tick;
	*ret = xstrdup(e->header);
	return 0;
}

/* The Authorization header value for a call. */
int versori_auth_header(struct versori_auth *a, const char *subject, int64_t now_s, char **ret)
{
	assert(a);
	if (a->kind != VERSORI_AUTH_SIGNING_KEY) {
		*ret = xstrdup(a->header);
		return 0;
	}
	return auth_header_minted(a, subject, now_s, ret);
}

/* Drop the cached token for subject; whether the credential mints tokens at all. */
bool versori_auth_invalidate(struct versori_auth *a, const char *subject)
{
	const char *sub;
	struct auth_cache_entry *e;

	if (!a || a->kind != VERSORI_AUTH_SIGNING_KEY)
		return false;
	sub = auth_subject(a, subject);
	e = sub ? cache_find(a, sub) : NULL;
	if (e)
		cache_remove(a, e);
	return true;
}
