/* SIGSTRUCT parsing and verification: RSA-3072, e = 3, RSASSA-PKCS1-v1_5 with SHA-256
 * over bytes[0:128] + bytes[900:1028], plus the q1/q2 helper values. Uses only libc and
 * mbedtls' bignum module. The input is untrusted: every check fails closed. */
#include "sigstruct.h"
#include "coreutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/bignum.h>

#include "sha256.h"

#define OFF_HEADER 0
#define OFF_DATE 20
#define OFF_HEADER2 24
#define OFF_MODULUS 128
#define OFF_EXPONENT 512
#define OFF_SIGNATURE 516
#define OFF_MISCSELECT 900
#define OFF_ATTR_FLAGS 928
#define OFF_ATTR_XFRM 936
#define OFF_ATTRMASK_XFRM 952
#define OFF_ENCLAVEHASH 960
#define OFF_ISVPRODID 1024
#define OFF_ISVSVN 1026
#define OFF_RESERVED3 1028
#define OFF_Q1 1040
#define OFF_Q2 1424
#define KEY_BYTES 384

static const uint8_t HEADER[16] = {0x06, 0x00, 0x00, 0x00, 0xe1, 0x00, 0x00, 0x00,
                                   0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00};
static const uint8_t HEADER2[16] = {0x01, 0x01, 0x00, 0x00, 0x60, 0x00, 0x00, 0x00,
                                    0x60, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00};
/* DER DigestInfo prefix for SHA-256 (RFC 8017, 9.2 note 1). */
static const uint8_t DIGESTINFO_SHA256[19] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                              0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                              0x01, 0x05, 0x00, 0x04, 0x20};


static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | ((uint64_t)get_u32(p + 4) << 32);
}

void gsc_sigstruct_signed_data(const uint8_t sig[GSC_SIGSTRUCT_SIZE], uint8_t out[256])
{
    memcpy(out, sig, 128);
    memcpy(out + 128, sig + OFF_MISCSELECT, 128);
}

void gsc_sigstruct_mrsigner(const uint8_t modulus_le[384], uint8_t out[32])
{
    gsc_sha256(modulus_le, KEY_BYTES, out);
}

/* Constant-time-ish comparison; the data is public anyway. */
static int bytes_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (uint8_t)(a[i] ^ b[i]);
    return d == 0;
}

int gsc_sigstruct_verify(const uint8_t *sig, size_t sig_len, gsc_sigstruct_info *info,
                         char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!sig || sig_len != GSC_SIGSTRUCT_SIZE) {
        gsc_set_err(err, errlen, "SIGSTRUCT has the wrong length (%zu bytes, need %d)",
                sig ? sig_len : (size_t)0, GSC_SIGSTRUCT_SIZE);
        return GSC_SIG_E_FORMAT;
    }
    if (memcmp(sig + OFF_HEADER, HEADER, sizeof(HEADER)) != 0 ||
        memcmp(sig + OFF_HEADER2, HEADER2, sizeof(HEADER2)) != 0) {
        gsc_set_err(err, errlen, "SIGSTRUCT has a bad header");
        return GSC_SIG_E_FORMAT;
    }
    for (size_t i = OFF_RESERVED3; i < OFF_Q1; i++) {
        if (sig[i] != 0) {
            /* Not covered by the signature: accept only the value every signer writes. */
            gsc_set_err(err, errlen, "SIGSTRUCT reserved bytes 1028..1039 are not zero");
            return GSC_SIG_E_FORMAT;
        }
    }
    if (get_u32(sig + OFF_EXPONENT) != 3) {
        gsc_set_err(err, errlen, "SIGSTRUCT exponent is %u, need 3",
                (unsigned)get_u32(sig + OFF_EXPONENT));
        return GSC_SIG_E_FORMAT;
    }

    /* Expected encoded message EM = 00 01 FF.. 00 || DigestInfo || SHA-256(signed data). */
    uint8_t signed_data[256], em[KEY_BYTES], got[KEY_BYTES];
    gsc_sigstruct_signed_data(sig, signed_data);
    memset(em, 0xff, sizeof(em));
    em[0] = 0x00;
    em[1] = 0x01;
    size_t tlen = sizeof(DIGESTINFO_SHA256) + GSC_SHA256_LEN;
    em[KEY_BYTES - tlen - 1] = 0x00;
    memcpy(em + KEY_BYTES - tlen, DIGESTINFO_SHA256, sizeof(DIGESTINFO_SHA256));
    gsc_sha256(signed_data, sizeof(signed_data), em + KEY_BYTES - GSC_SHA256_LEN);

    int rc = GSC_SIG_E_BADSIG;
    int ok = 0;
    mbedtls_mpi n, s, s2, q1, r1, t, q2, r2, q;
    mbedtls_mpi_init(&n);
    mbedtls_mpi_init(&s);
    mbedtls_mpi_init(&s2);
    mbedtls_mpi_init(&q1);
    mbedtls_mpi_init(&r1);
    mbedtls_mpi_init(&t);
    mbedtls_mpi_init(&q2);
    mbedtls_mpi_init(&r2);
    mbedtls_mpi_init(&q);

    if (mbedtls_mpi_read_binary_le(&n, sig + OFF_MODULUS, KEY_BYTES) != 0 ||
        mbedtls_mpi_read_binary_le(&s, sig + OFF_SIGNATURE, KEY_BYTES) != 0) {
        gsc_set_err(err, errlen, "SIGSTRUCT: out of memory");
        rc = GSC_SIG_E_NOMEM;
        goto out;
    }
    if (mbedtls_mpi_bitlen(&n) != 3072 || mbedtls_mpi_get_bit(&n, 0) != 1) {
        gsc_set_err(err, errlen, "SIGSTRUCT modulus is not a 3072-bit RSA modulus");
        goto out;
    }
    if (mbedtls_mpi_cmp_mpi(&s, &n) >= 0) {
        gsc_set_err(err, errlen, "SIGSTRUCT signature is out of range");
        goto out;
    }
    /* s^2 = q1*n + r1;  r1*s = q2*n + r2;  r2 = s^3 mod n. */
    if (mbedtls_mpi_mul_mpi(&s2, &s, &s) != 0 || mbedtls_mpi_div_mpi(&q1, &r1, &s2, &n) != 0 ||
        mbedtls_mpi_mul_mpi(&t, &r1, &s) != 0 || mbedtls_mpi_div_mpi(&q2, &r2, &t, &n) != 0 ||
        mbedtls_mpi_write_binary(&r2, got, sizeof(got)) != 0) {
        gsc_set_err(err, errlen, "SIGSTRUCT: arithmetic failed");
        rc = GSC_SIG_E_NOMEM;
        goto out;
    }
    if (!bytes_equal(got, em, sizeof(em))) {
        gsc_set_err(err, errlen, "SIGSTRUCT signature does not verify");
        goto out;
    }
    if (mbedtls_mpi_read_binary_le(&q, sig + OFF_Q1, KEY_BYTES) != 0 ||
        mbedtls_mpi_cmp_mpi(&q, &q1) != 0) {
        gsc_set_err(err, errlen, "SIGSTRUCT q1 is inconsistent with the signature");
        goto out;
    }
    if (mbedtls_mpi_read_binary_le(&q, sig + OFF_Q2, KEY_BYTES) != 0 ||
        mbedtls_mpi_cmp_mpi(&q, &q2) != 0) {
        gsc_set_err(err, errlen, "SIGSTRUCT q2 is inconsistent with the signature");
        goto out;
    }
    ok = 1;
    rc = 0;

out:
    mbedtls_mpi_free(&n);
    mbedtls_mpi_free(&s);
    mbedtls_mpi_free(&s2);
    mbedtls_mpi_free(&q1);
    mbedtls_mpi_free(&r1);
    mbedtls_mpi_free(&t);
    mbedtls_mpi_free(&q2);
    mbedtls_mpi_free(&r2);
    mbedtls_mpi_free(&q);
    if (!ok)
        return rc;

    if (info) {
        memset(info, 0, sizeof(*info));
        memcpy(info->mrenclave, sig + OFF_ENCLAVEHASH, 32);
        gsc_sigstruct_mrsigner(sig + OFF_MODULUS, info->mrsigner);
        info->isv_prod_id = get_u16(sig + OFF_ISVPRODID);
        info->isv_svn = get_u16(sig + OFF_ISVSVN);
        info->date = get_u32(sig + OFF_DATE);
        info->misc_select = get_u32(sig + OFF_MISCSELECT);
        info->attributes_flags = get_u64(sig + OFF_ATTR_FLAGS);
        info->attributes_xfrm = get_u64(sig + OFF_ATTR_XFRM);
        info->attribute_mask_xfrm = get_u64(sig + OFF_ATTRMASK_XFRM);
        info->debug = (info->attributes_flags & 0x2) ? 1 : 0;
    }
    return 0;
}
