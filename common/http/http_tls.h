/* TLS for the HTTP server: libevent's OpenSSL bufferevents under evhttp, and the client
 * certificates of mTLS sources checked per request. The only module that includes libssl
 * (crypto owns libcrypto's primitives). Runs on the event loop: a handshake never blocks it;
 * a source's CA bundle is read from disk once, when the source is checked at start-up.
 *
 * The listener asks every client for a certificate and accepts any, or none: which CA must
 * have issued it is a property of the source the request goes to, decided per request
 * (http_tls_client_verify()). TLS 1.2 is the least version. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "xalloc.h"

struct bufferevent;
struct event_base;
struct http_tls;

/* A server context from a PEM certificate chain file and its private key file (not
 * encrypted). NULL on failure with *ret_error a new string naming the file and the problem. */
struct http_tls *http_tls_new(const char *cert_file, const char *key_file, char **ret_error);
void http_tls_free(struct http_tls *t);

/* A bufferevent that accepts a TLS connection, for evhttp_set_bevcb(); NULL on OOM. */
struct bufferevent *http_tls_bufferevent_new(struct http_tls *t, struct event_base *base);

/* The TLS session of an accepted connection's bufferevent (an opaque handle for http_req's
 * tls member), or NULL when the connection is not TLS. */
void *http_tls_session(struct bufferevent *bev);

/* Load (once, kept for the process) the CA bundle a certificate source trusts; -EINVAL with
 * *ret_problem (static) when the file cannot be read or holds no certificate. */
int http_tls_ca_load(const char *ca_file, const char **ret_problem) _warn_unused_result_;

/* Check the client certificate of session (NULL: the request came without TLS) for a source
 * that trusts ca_file (loaded by http_tls_ca_load()) and, when subject is not NULL, names it
 * as a DNS name of the certificate (subjectAltName, or the CN when it has none). Returns 0,
 * or -EACCES with *ret_reason "missing_client_certificate", "bad_client_certificate" (its
 * chain does not verify to ca_file for client authentication, or has expired) or
 * "client_certificate_subject_mismatch"; -EINVAL when ca_file was never loaded. */
int http_tls_client_verify(void *session, const char *ca_file, const char *subject,
                           const char **ret_reason) _warn_unused_result_;
