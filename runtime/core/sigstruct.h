/* SIGSTRUCT parsing and verification (RSA-3072, e = 3, PKCS#1 v1.5 / SHA-256). */
#ifndef GSC_SIGSTRUCT_H
#define GSC_SIGSTRUCT_H

#include <stddef.h>
#include <stdint.h>

#define GSC_SIGSTRUCT_SIZE 1808

typedef struct {
    uint8_t mrenclave[32];  /* enclavehash field */
    uint8_t mrsigner[32];   /* SHA-256 of the 384-byte little-endian modulus */
    uint16_t isv_prod_id;
    uint16_t isv_svn;
    uint32_t date;          /* raw BCD field */
    uint32_t misc_select;
    uint64_t attributes_flags;
    uint64_t attributes_xfrm;
    uint64_t attribute_mask_xfrm;
    int debug;              /* attributes_flags & 0x2 */
} gsc_sigstruct_info;

/* Check length, fixed headers, exponent 3 and the RSA signature over the signed
 * 256 bytes; fill info. 0 ok, negative on failure with one line in err. Does NOT compare
 * enclavehash with a measurement: the caller does that. */
int gsc_sigstruct_verify(const uint8_t *sig, size_t sig_len, gsc_sigstruct_info *info,
                         char *err, size_t errlen);

/* Error codes of gsc_sigstruct_verify (all negative). */
#define GSC_SIG_E_FORMAT -10 /* wrong length, header or exponent */
#define GSC_SIG_E_BADSIG -11 /* modulus, signature, q1 or q2 do not check out */
#define GSC_SIG_E_NOMEM -12

/* The 256 signed bytes: sig[0:128] + sig[900:1028]. */
void gsc_sigstruct_signed_data(const uint8_t sig[GSC_SIGSTRUCT_SIZE], uint8_t out[256]);
/* MRSIGNER = SHA-256 of the 384-byte little-endian modulus field. */
void gsc_sigstruct_mrsigner(const uint8_t modulus_le[384], uint8_t out[32]);

#endif
