/* JWTs minted by an independent implementation and the keys they are signed with, shared by
 * the unit tests of jwt_bearer and of the configuration. */
#pragma once

/*
 * Vectors, made with:
 *   import jwt; JB_NOW = 1760000000
 *   full =
 * {"iss":"versori","aud":"hookrun","sub":"flows","iat":JB_NOW-10,"nbf":JB_NOW-10,"exp":JB_NOW+1800}
 *   jwt.encode(full, key, alg)   (keys: the JB_S* secrets decoded; k1/k2: openssl genpkey 2048)
 * JB_CONFUSED is HS256 keyed with JB_PUB_K1's text (PyJWT refuses to make it: made by hmac),
 * JB_NONE has alg "none" and no signature.
 */
#define JB_NOW 1760000000LL
#define JB_S32 "YSAzMi1ieXRlIEhTMjU2IGtleSBmb3IgaG9va3J1biE="
#define JB_S48 "YSA0OC1ieXRlIEhTMzg0IGtleSBmb3IgaG9va3J1biwgbWFkZSB0byBtZWFzdXJl"
#define JB_S64                                                                                     \
	"YSA2NC1ieXRlIEhTNTEyIGtleSBmb3IgaG9va3J1biwgbWFkZSB0byBtZWFzdXJlLCBhbmQgYSBiaXQgbW9yZQ=="
#define JB_S32_OLD "dGhlIHByZXZpb3VzIDMyLWJ5dGUgSFMyNTYga2V5ISE="
#define JB_HS256                                                                                   \
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                                    \
	"eyJpc3MiOiJ2ZXJzb3JpIiwiYXVkIjoiaG9va3J1biIsInN1YiI6ImZsb3dzIiwiaWF0IjoxNzU5OTk5OTkwLCJu" \
	"YmYiOjE3NTk5OTk5OTAsImV4cCI6MTc2MDAwMTgwMH0.xjfQ20iU5RXrskBZcIyLTckheatV6X22RLAsyfzcvJA"
#define JB_HS384                                                                                   \
	"eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9."                                                    \
	"eyJpc3MiOiJ2ZXJzb3JpIiwiYXVkIjoiaG9va3J1biIsInN1YiI6ImZsb3dzIiwiaWF0IjoxNzU5OTk5OTkwLCJu" \
	"YmYiOjE3NTk5OTk5OTAsImV4cCI6MTc2MDAwMTgwMH0.7smOdUGVj5Pb_"                                \
	"onb7tnDvrLDmiG8E1iKmNJV4yigarcyEuXf0a99zFtrQ5cdiHzc"
#define JB_HS512                                                                                   \
	"eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9."                                                    \
	"eyJpc3MiOiJ2ZXJzb3JpIiwiYXVkIjoiaG9va3J1biIsInN1YiI6ImZsb3dzIiwiaWF0IjoxNzU5OTk5OTkwLCJu" \
	"YmYiOjE3NTk5OTk5OTAsImV4cCI6MTc2MDAwMTgwMH0."                                             \
	"w4xCNPRznoxpqnxlBjP32qqjamDVsDVkLnRSqmWaCJwuEMHt7_1O3K8NAVMhrmgphHUPw16diguLf59Nx8Qz3g"
#define JB_HS256_OLD                                                                               \
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                                    \
	"eyJpc3MiOiJ2ZXJzb3JpIiwiYXVkIjoiaG9va3J1biIsInN1YiI6ImZsb3dzIiwiaWF0IjoxNzU5OTk5OTkwLCJu" \
	"YmYiOjE3NTk5OTk5OTAsImV4cCI6MTc2MDAwMTgwMH0.bnFRXuywyu1L-_pgZj7tKMRjL7zJeishml5viRQKWgs"
#define JB_HS256_KID                                                                               \
	"eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0."                                     \
	"eyJpc3MiOiJ2ZXJzb3JpIiwiYXVkIjoiaG9va3J1biIsInN1YiI6ImZsb3dzIiwiaWF0IjoxNzU5OTk5OTkwLCJu" \
	"YmYiOjE3NTk5OTk5OTAsImV4cCI6MTc2MDAwMTgwMH0.TMNkWhgKhoRb33HyDRrPXOKzGxiaVza9fYc1b1LijIw"
#define JB_RS256                                                                                   \
	"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9."                                                    \
	"eyJpc3MiOiJ2ZXJzb3JpIiwiYXVkIjoiaG9va3J1biIsInN1YiI6ImZsb3dzIiwiaWF0IjoxNzU5OTk5OTkwLCJu" \
	"YmYiOjE3NTk5OTk5OTAsImV4cCI6MTc2MDAwMTgwMH0.ZsVVTLvm3T07UMUrHQ-LJca8JY-i0N8-9UEu_H08Xhn_" \
	"HRTj97SkA7r7RI9xuldslGTuA4NIQRFUS18yaEADRFjBL9xQbUrgP1xdsJ2ezuqFhbzxdicTg5gWc7EyHAAosNCO" \
	"AxH15YSqmmPDBz6HgvtwlEgoqg2h0Byyb4CqywvcZZ2qncDwLzLl3Nnt9-y-"                             \
	"ymEfiHwGWNvqUfU3gzD8KmC5cSDuEPeuY_9qtH6eiPZmR2PJWWQYaYILo_"                               \
	"pWIyGp1likJzbvqVinmVMJ2v0aRjvNZqMDla09CkJFfuIWLQG5hDrtlg6w4J-"                            \
	"psGCcYdZFB18UYUVVxBWoyoGhlshrVA"
#define JB_RS384                                                                                   \
	"eyJhbGciOiJSUzM4NCIsInR5cCI6IkpXVCJ9."                                                    \
	"eyJpc3MiOiJ2ZXJzb3JpIiwiYXVkIjoiaG9va3J1biIsInN1YiI6ImZsb3dzIiwiaWF0IjoxNzU5OTk5OTkwLCJu" \
	"YmYiOjE3NTk5OTk5OTAsImV4cCI6MTc2MDAwMTgwMH0.kvuC7tZP_"                                    \
	"ZH4eQc4XIIk93B0Fm03z7DWi1fRQY3hyQRUrGLMGhnZSXG_zzLVyzLTUwSLeScjWqS2zgBj4_"                \
	"7KXk6g5z2KLrXefIbHSXa3qBh_DEuwtzyjWWEafMCB8iwpRF_2FTQk9uloHqAWnzuraKC0xaT_"               \
	"uNtaawEuRCbMwtVG9oapmM499gSTxZf_IHlr1EgfBAlK8zjdAIi2uq6_f9YxgnCJQeNaJZ_lE7kn35hDan1X_"    \
	"KMmQf7hf-DtCqZySpInvt9FIcHrAT24thCjbAWfQd_8xrPCepl4Bt2d2tdYIeXlfzBWrkxHyLEMZKIAuX_"       \
	"y0Mc3u2QSUvUGCGDrvg"
#define JB_RS512                                                                                   \
	"eyJhbGciOiJSUzUxMiIsInR5cCI6IkpXVCJ9."                                                    \
	"eyJpc3MiOiJ2ZXJzb3JpIiwiYXVkIjoiaG9va3J1biIsInN1YiI6ImZsb3dzIiwiaWF0IjoxNzU5OTk5OTkwLCJu" \
	"YmYiOjE3NTk5OTk5OTAsImV4cCI6MTc2MDAwMTgwMH0.L8-2fpH-luF9neb3pnTQu1niMB3fH-"               \
	"cUEwMDzOLSCBE4zuvkkDVv3k57jb_TQQxWxhH-Carf_F9Flv_i4hiTAwb6WJDr-"                          \
	"leeqgedR4rKROgJIMw4QXk2iovr1uYMFjKV0HmucaOikUIWUwABrL7j7jysnjcC8YqCfWPXlTChiCrTCBNTjM6hR" \
	"9YSy3f_puln5bnUuSQq74wJ8NtU_Tr56S7zXYfoKBfLeHry1x5_QfWWajxNzMNDi_PTWSYm-"                 \
	"OGlqPeSb57O6Auy8zncHO9s6UuKexffg1eM7cAsCUeGMpnB6bNCYc-"                                   \
	"Y6p7Mcg1DUr2skbQBwXBGzyhPFjDeDqNRPA"
#define JB_RS256_K2                                                                                \
	"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9."                                                    \
	"eyJpc3MiOiJ2ZXJzb3JpIiwiYXVkIjoiaG9va3J1biIsInN1YiI6ImZsb3dzIiwiaWF0IjoxNzU5OTk5OTkwLCJu" \
	"YmYiOjE3NTk5OTk5OTAsImV4cCI6MTc2MDAwMTgwMH0.VYGeQfN1PZ_uarZ75_"                           \
	"WvCoDnTGd6ZalAQT2tmHp5eXQ5fbHzylE2WsXBinIm7E2lMOKwKsknSYrQcl-"                            \
	"8StYWlHbgEfr4ub2OcGYLOK2TVhOMtVd1aTEVhgl6fy23_"                                           \
	"izEdZOBwe3aESvYFyfhrg7aEeijJ5dajB26Y1lTZvssnybwiPMlsLI4FxLw8Pf-6Pa14Qe3F1jZEEugsvvLy_"    \
	"v8ma-d_8430nWYdJu5WRwtfHokwNvKDN5JhnJKCSvFMlvzU91JxtSuXkAtrHGmQTJXSeoXjOZx5xYL-"          \
	"60AmEA3h1pffM1kxzt1c_KchP20xPvXvfPbf63AwRgHf38KS0cgvA"
#define JB_NO_EXP                                                                                  \
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJ2ZXJzb3JpIn0._"                           \
	"NIuzAWraXvSz5vRPmXnD5lkEsOZqgNrA81FGEhuYS4"
#define JB_FRACTION                                                                                \
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                                    \
	"eyJleHAiOjE3NjAwMDAwMDAuNSwiaWF0IjoxNzU5OTk5OTk5Ljc1fQ."                                  \
	"1uUMGDa2JQSEO6KPy9zgMNt8jFssA8zz4jppmVK2U3Y"
#define JB_AUD_LIST                                                                                \
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                                    \
	"eyJhdWQiOlsieCIsImhvb2tydW4iXSwiZXhwIjoxNzYwMDAwMDYwfQ.I4a3GN2WVwVoXVGXTBR5SmZE9ava_"     \
	"GWe3P9kafQ_u6Y"
#define JB_AUD_NUMBER                                                                              \
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOjcsImV4cCI6MTc2MDAwMDA2MH0."                \
	"bBzHuqvzT2oDLB3qEoAJc3jTwySdVfxpp8P5EEujtcY"
#define JB_EXP_STRING                                                                              \
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOiIxNzYwMDAwMDYwIn0."                        \
	"DJ4OWniP6QqLN8sCbA90WRgzY0La1FevEwe4N3Ay45M"
#define JB_CONFUSED                                                                                \
	"eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9."                                                \
	"eyJpc3MiOiAidmVyc29yaSIsICJhdWQiOiAiaG9va3J1biIsICJzdWIiOiAiZmxvd3MiLCAiaWF0IjogMTc1OTk5" \
	"OTk5MCwgIm5iZiI6IDE3NTk5OTk5OTAsICJleHAiOiAxNzYwMDAxODAwfQ.AGx9-ZkZuAOUdP72Algyz_"        \
	"7XAJliw05DCKgpU4EgWDg"
#define JB_NONE                                                                                    \
	"eyJhbGciOiAibm9uZSIsICJ0eXAiOiAiSldUIn0."                                                 \
	"eyJpc3MiOiAidmVyc29yaSIsICJhdWQiOiAiaG9va3J1biIsICJzdWIiOiAiZmxvd3MiLCAiaWF0IjogMTc1OTk5" \
	"OTk5MCwgIm5iZiI6IDE3NTk5OTk5OTAsICJleHAiOiAxNzYwMDAxODAwfQ."
#define JB_PUB_K1                                                                                  \
	"-----BEGIN PUBLIC KEY-----\n"                                                             \
	"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAsMaXRUlRrciG+8hMrt3c\n"                       \
	"j7owDZMyFliVuSlU2asTBcmp6q/WlxkKQqKFnnw6T9EpIr8+PKzDF7ZDjQEbQZNr\n"                       \
	"tLIKZN+4MgM8i8YcfOc5J5E0ObE6asE0yLaIzQr6I+o29cubYCKSXoUuPWge1TL/\n"                       \
	"puay3Sv9Hncz4NchjckBynknXPkhJMRtPMsNGkDvN6su3bqB2iyzEK3/UKYmGuJ3\n"                       \
	"pNq8DHP9uZeJQxqdTKxZU3gSP8P64Qh+U00CSX6xyecFJ/FRzM3fHPnLivfo7lya\n"                       \
	"/GFqCnbMugtQRJC412KUpSVbPA6PBTq9WNmrYfW1b1Qj38FInUL8uUD0IVLz8hpT\n"                       \
	"bQIDAQAB\n"                                                                               \
	"-----END PUBLIC KEY-----\n"
#define JB_PUB_K2                                                                                  \
	"-----BEGIN PUBLIC KEY-----\n"                                                             \
	"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAjReEP2SW26OneafRxt3x\n"                       \
	"pQRh40w2xVjq4aQiv/tsIRCweE7hEfjpTWPRkRORe5BZr1n2VG4slx89a5BM4+EV\n"                       \
	"53j9/I8W+YC1dKkaYTa2leL/DXHUHWJ7do4x2FHymXxlToRC50B4AcSz/459x+8y\n"                       \
	"xyF88QBOePiWj0nnaTh4QHWpWwSL1WOLIrNv63rpeYXS2aVcL1oUoId7YMFsPDzr\n"                       \
	"Q646gbj1vOtQ6jD3ZQ3E+WT8+g/RKqttX/WK637aXMQad+8sWuEWEMaCbc6iv53v\n"                       \
	"sxwi+mMSkFfH5wedou43gXluZW2ko7Wm73pBYHkH4cq1gqqBa7mM2jtOFPEvVVgs\n"                       \
	"TQIDAQAB\n"                                                                               \
	"-----END PUBLIC KEY-----\n"
#define JB_PUB_K0                                                                                  \
	"-----BEGIN PUBLIC KEY-----\n"                                                             \
	"MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDDgkCWYbLkoDirvplNYQtOtbwO\n"                       \
	"Q0ybKkCh0abXrkdtpb7LRGXqRVoEqSys0kZnJ5DlmEGfh5F3rf0FXoox372cTgGL\n"                       \
	"Fyv4XjyifwXBjPa2gmVBrFcQYThQDRpusyrK+AFHDa3Jym/FaMnRrOldr2piQT+T\n"                       \
	"VfhitR/Lkm/jjMhgWQIDAQAB\n"                                                               \
	"-----END PUBLIC KEY-----\n"
