/* Test support: RSA key pairs as PEM text, made with libcrypto, for the tests of signing keys,
 * the Versori client and versori-sim. Used by unit and integration tests only; CPU only. */
#pragma once

#include <stddef.h>

struct bio_st;

/* A fresh RSA key pair of bits bits: *ret_private as PKCS#8 PEM ("BEGIN PRIVATE KEY") and,
 * when ret_public is not NULL, *ret_public as SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY").
 * New strings; 0, or -EIO when libcrypto fails (nothing is returned then). */
int test_keys_rsa_pair(unsigned bits, char **ret_private, char **ret_public);
/* Everything written to a memory BIO as a new string; frees the BIO. */
char *test_keys_bio_text(struct bio_st *b);
