/* Test support: RSA key pairs as PEM text. */
#include "test_keys.h"

#include <errno.h>
#include <stdlib.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "xalloc.h"

/* Drain a memory BIO into a new string and free it. */
char *test_keys_bio_text(BIO *b)
{
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);
	char *s = xstrndup(data, n > 0 ? (size_t)n : 0);

	BIO_free(b);
	return s;
}

/* PKCS#8 private and SPKI public PEM of a new RSA key. */
int test_keys_rsa_pair(unsigned bits, char **ret_private, char **ret_public)
{
	EVP_PKEY *k = EVP_RSA_gen(bits);
	BIO *priv = BIO_new(BIO_s_mem()), *pub = BIO_new(BIO_s_mem());
	int r = -EIO;

	if (!k || !priv || !pub ||
	    PEM_write_bio_PrivateKey(priv, k, NULL, NULL, 0, NULL, NULL) != 1 ||
	    PEM_write_bio_PUBKEY(pub, k) != 1)
		goto out;
	*ret_private = test_keys_bio_text(TAKE_PTR(priv));
	if (ret_public)
		*ret_public = test_keys_bio_text(TAKE_PTR(pub));
	r = 0;
out:
	BIO_free(priv);
	BIO_free(pub);
	EVP_PKEY_free(k);
	return r;
}
