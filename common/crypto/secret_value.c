/* Values kept encrypted at rest (secret_value.h). */
#include "secret_value.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

#define SECRET_VALUE_AAD     "hookrun secret v1"
#define SECRET_VALUE_VERSION "v1"
#define SECRET_KEY_ID_LEN    8

struct secret_key {
	unsigned char key[CRYPTO_AEAD_KEY_SIZE];
	char id[SECRET_KEY_ID_LEN + 1];
};

struct secret_keys {
	struct secret_key *keys; /* [0] seals */
	size_t n;
};

int secret_keys_new(const char *const *keys, size_t n, struct secret_keys **ret, char **ret_error)
{
	struct secret_keys *k = xcalloc(1, sizeof(*k));

	k->keys = xcalloc(n ? n : 1, sizeof(*k->keys));
	for (size_t i = 0; i < n; i++) {
		unsigned char *raw = NULL;
		size_t len = 0;
		char hex[CRYPTO_SHA256_HEX_SIZE];
		int r = crypto_base64_decode(keys[i], strlen(keys[i]), &raw, &len);

		if (r < 0 || len != CRYPTO_AEAD_KEY_SIZE) {
			if (raw)
				memset(raw, 0, len);
			free(raw);
			secret_keys_free(k);
			*ret_error =
			    xasprintf("key %zu is not the base64 of 32 bytes (make one with: "
			              "head -c 32 /dev/urandom | base64)",
			              i + 1);
			return -EINVAL;
		}
		memcpy(k->keys[i].key, raw, CRYPTO_AEAD_KEY_SIZE);
		memset(raw, 0, len);
		free(raw);
		if (crypto_sha256_hex(k->keys[i].key, CRYPTO_AEAD_KEY_SIZE, hex) < 0) {
			secret_keys_free(k);
			*ret_error = xstrdup("no SHA-256 from OpenSSL");
			return -ENOMEM;
		}
		memcpy(k->keys[i].id, hex, SECRET_KEY_ID_LEN);
		k->n++;
	}
	*ret = k;
	return 0;
}

void secret_keys_free(struct secret_keys *k)
{
	if (!k)
		return;
	if (k->keys)
		memset(k->keys, 0, sizeof(*k->keys) * (k->n ? k->n : 1));
	free(k->keys);
	free(k);
}

const char *secret_keys_current_id(const struct secret_keys *k)
{
	return k->n ? k->keys[0].id : "";
}

json_t *secret_value_seal(const struct secret_keys *k, const json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	unsigned char *sealed = NULL;
	size_t len = 0;
	char *b64, *s;
	json_t *out;
	int r;

	if (!text || k->n == 0) {
		free(text);
		return NULL;
	}
	r = crypto_aead_seal(k->keys[0].key, SECRET_VALUE_AAD, strlen(SECRET_VALUE_AAD), text,
	                     strlen(text), &sealed, &len);
	memset(text, 0, strlen(text));
	free(text);
	if (r < 0)
		return NULL;
	b64 = crypto_base64url_encode(sealed, len);
	free(sealed);
	s = xasprintf(SECRET_VALUE_VERSION ".%s.%s", k->keys[0].id, b64);
	free(b64);
	out = json_pack("{s:s}", SECRET_VALUE_MEMBER, s);
	free(s);
	return out;
}

bool secret_value_is_sealed(const json_t *v)
{
	return json_is_object(v) && json_object_size(v) == 1 &&
	       json_is_string(json_object_get(v, SECRET_VALUE_MEMBER));
}

/* The key with this id, or NULL. */
static const struct secret_key *secret_key_find(const struct secret_keys *k, const char *id,
                                                size_t id_len)
{
	for (size_t i = 0; k && i < k->n; i++)
		if (id_len == SECRET_KEY_ID_LEN && memcmp(k->keys[i].id, id, id_len) == 0)
			return &k->keys[i];
	return NULL;
}

/* The value a sealed one holds, a new reference in *ret. */
static int secret_value_open(const struct secret_keys *k, const json_t *v, json_t **ret,
                             char **ret_error)
{
	const char *s = json_string_value(json_object_get(v, SECRET_VALUE_MEMBER));
	const char *id = strchr(s, '.'), *data = id ? strchr(id + 1, '.') : NULL;
	const struct secret_key *key;
	unsigned char *raw = NULL, *plain = NULL;
	size_t raw_len = 0, plain_len = 0;

	if (!id || !data || (size_t)(id - s) != strlen(SECRET_VALUE_VERSION) ||
	    memcmp(s, SECRET_VALUE_VERSION, strlen(SECRET_VALUE_VERSION)) != 0) {
		*ret_error = xstrdup("an encrypted value is malformed (not v1.KEYID.DATA)");
		return -EBADMSG;
	}
	id++;
	key = secret_key_find(k, id, (size_t)(data - id));
	if (!key) {
		*ret_error = xasprintf("an encrypted value names key %.*s, which is not configured "
		                       "(secrets_key, secrets_key_previous)",
		                       (int)(data - id) > 16 ? 16 : (int)(data - id), id);
		return -ENOKEY;
	}
	data++;
	if (crypto_base64url_decode(data, strlen(data), &raw, &raw_len) < 0 ||
	    crypto_aead_open(key->key, SECRET_VALUE_AAD, strlen(SECRET_VALUE_AAD), raw, raw_len,
	                     &plain, &plain_len) < 0) {
		free(raw);
		*ret_error =
		    xasprintf("an encrypted value under key %s does not open (altered?)", key->id);
		return -EBADMSG;
	}
	free(raw);
	*ret = json_loadb((const char *)plain, plain_len, JSON_DECODE_ANY, NULL);
	memset(plain, 0, plain_len);
	free(plain);
	if (!*ret) {
		*ret_error = xasprintf("an encrypted value under key %s holds no JSON", key->id);
		return -EBADMSG;
	}
	return 0;
}

int secret_value_open_all(const struct secret_keys *k, json_t **root, char **ret_error)
{
	json_t *v = *root, *member, *opened;
	const char *name;
	size_t i;
	int r;

	if (secret_value_is_sealed(v)) {
		r = secret_value_open(k, v, &opened, ret_error);
		if (r < 0)
			return r;
		json_decref(v);
		*root = opened;
		return 0;
	}
	if (json_is_object(v)) {
		json_object_foreach (v, name, member) {
			json_t *m = json_incref(member);

			r = secret_value_open_all(k, &m, ret_error);
			if (r == 0 && m != member)
				json_object_set(v, name, m);
			json_decref(m);
			if (r < 0)
				return r;
		}
	} else if (json_is_array(v)) {
		json_array_foreach (v, i, member) {
			json_t *m = json_incref(member);

			r = secret_value_open_all(k, &m, ret_error);
			if (r == 0 && m != member)
				json_array_set(v, i, m);
			json_decref(m);
			if (r < 0)
				return r;
		}
	}
	return 0;
}
