/* TLS under evhttp (OpenSSL bufferevents) and per-source client certificate checks. */
#include "http_tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "xalloc.h"

#define HTTP_TLS_MAX_CAS 16

struct http_tls {
	SSL_CTX *ctx;
};

/* A CA bundle a certificate source trusts, by its path. */
struct ca_store {
	char *path;
	X509_STORE *store;
};

static struct ca_store ca_stores[HTTP_TLS_MAX_CAS];

/* The text of OpenSSL's last error (static buffer), cleared from its queue. */
static const char *tls_error(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	ERR_clear_error();
	if (!e)
		return "unknown error";
	ERR_error_string_n(e, buf, sizeof(buf));
	return buf;
}

/* Accept whatever certificate the client shows, or none: the source decides per request. */
static int accept_any_certificate(int preverify_ok, X509_STORE_CTX *ctx)
{
	(void)preverify_ok;
	(void)ctx;
	return 1;
}

/* A server context for the certificate chain and key files. */
struct http_tls *http_tls_new(const char *cert_file, const char *key_file, char **ret_error)
{
	struct http_tls *t;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		*ret_error = xasprintf("cannot create a TLS context: %s", tls_error());
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		*ret_error = xasprintf("tls_cert_file '%s': %s", cert_file, tls_error());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		*ret_error = xasprintf("tls_key_file '%s': %s", key_file, tls_error());
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*ret_error = xasprintf("tls_key_file '%s' is not the key of tls_cert_file '%s'",
		                       key_file, cert_file);
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_certificate);
	t = xcalloc(1, sizeof(*t));
	t->ctx = ctx;
	return t;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Free the context; takes NULL. */
void http_tls_free(struct http_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

/* A TLS bufferevent in accepting state, its SSL freed with it. */
struct bufferevent *http_tls_bufferevent_new(struct http_tls *t, struct event_base *base)
{
	SSL *ssl = SSL_new(t->ctx);
	struct bufferevent *bev;

	if (!ssl)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                     BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!bev)
		SSL_free(ssl);
	return bev;
}

/* The SSL of a bufferevent, or NULL for a plain one. */
void *http_tls_session(struct bufferevent *bev)
{
	return bev ? bufferevent_openssl_get_ssl(bev) : NULL;
}

/* The slot of a loaded CA bundle, or NULL. */
static struct ca_store *ca_find(const char *path)
{
	for (size_t i = 0; i < HTTP_TLS_MAX_CAS; i++)
		if (ca_stores[i].path && strcmp(ca_stores[i].path, path) == 0)
			return &ca_stores[i];
	return NULL;
}

/* Load a CA bundle once. */
int http_tls_ca_load(const char *ca_file, const char **ret_problem)
{
	struct ca_store *slot = NULL;
	X509_STORE *store;

	if (ca_find(ca_file))
		return 0;
	for (size_t i = 0; i < HTTP_TLS_MAX_CAS && !slot; i++)
		if (!ca_stores[i].path)
			slot = &ca_stores[i];
	if (!slot) {
		*ret_problem = "more than 16 different certificate_ca_file bundles";
		return -EINVAL;
	}
	store = X509_STORE_new();
	if (!store || X509_STORE_load_file(store, ca_file) != 1) {
		X509_STORE_free(store);
		ERR_clear_error();
		*ret_problem = "certificate_ca_file cannot be read as PEM certificates";
		return -EINVAL;
	}
	slot->path = xstrdup(ca_file);
	slot->store = store;
	return 0;
}

/* Whether leaf names subject as a DNS name (SAN, or CN without SAN). */
static bool subject_matches(X509 *leaf, const char *subject)
{
	return X509_check_host(leaf, subject, strlen(subject), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
	                       NULL) == 1;
}

/* Check the client certificate of a session for a source. */
int http_tls_client_verify(void *session, const char *ca_file, const char *subject,
                           const char **ret_reason)
{
	struct ca_store *ca = ca_file ? ca_find(ca_file) : NULL;
	X509 *leaf = session ? SSL_get0_peer_certificate(session) : NULL;
	X509_STORE_CTX *ctx;
	bool ok;

	if (!ca)
		return -EINVAL;
	if (!leaf) {
		*ret_reason = "missing_client_certificate";
		return -EACCES;
	}
	ctx = X509_STORE_CTX_new();
	if (!ctx)
		return -ENOMEM;
	ok = X509_STORE_CTX_init(ctx, ca->store, leaf, SSL_get_peer_cert_chain(session)) == 1 &&
	     X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) == 1 &&
	     X509_verify_cert(ctx) == 1;
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	if (!ok) {
		*ret_reason = "bad_client_certificate";
		return -EACCES;
	}
	if (subject && !subject_matches(leaf, subject)) {
		*ret_reason = "client_certificate_subject_mismatch";
		return -EACCES;
	}
	return 0;
}
