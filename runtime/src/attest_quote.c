/* gsc's SIMULATED SGX DCAP quote v3 (see attest_quote.h). Layout as in Intel's DCAP quote v3:
 * header (48) || ISV report body (384) || u32 signature data length || ISV signature r||s
 * (64) || attestation key x||y (64) || QE report (384) || QE report signature (64) || u16 QE
 * auth data length || QE auth data || u16 certification data type (5) || u32 size || PCK
 * chain (PEM). The QE report and its signature are fixed (made by simgen with the simulated
 * PCK key); only the header, the report body and the ISV signature are made here. */
#include "attest_quote.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/md.h>

#include "attest_sim_data.h"
#include "sha256.h"

#define HEADER_SIZE 48
#define BODY_SIZE 384
#define SIGNED_SIZE (HEADER_SIZE + BODY_SIZE)

static const uint8_t sim_vendor_id[16] = "gsc-simulated-qe"; /* 16 bytes, no NUL */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static size_t sig_data_size(void)
{
    return 64 + 64 + sizeof(gsc_sim_qe_report) + 64 + 2 + sizeof(gsc_sim_qe_auth_data) + 2 + 4 +
           sizeof(gsc_sim_pck_chain);
}

size_t gsc_sim_quote_size(void)
{
    return SIGNED_SIZE + 4 + sig_data_size();
}

/* Randomness for the blinding in deterministic (RFC 6979) ECDSA signing. */
static int blind_rng(void *ctx, unsigned char *buf, size_t len)
{
    (void)ctx;
    while (len) {
        ssize_t n = getrandom(buf, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int sign_p256(const uint8_t hash[32], uint8_t sig[64])
{
    mbedtls_ecp_group grp;
    mbedtls_mpi d, r, s;
    mbedtls_ecp_group_init(&grp);
    mbedtls_mpi_init(&d);
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    int rc = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1);
    if (rc == 0)
        rc = mbedtls_mpi_read_binary(&d, gsc_sim_att_priv, sizeof(gsc_sim_att_priv));
    if (rc == 0)
        rc = mbedtls_ecdsa_sign_det_ext(&grp, &r, &s, &d, hash, 32, MBEDTLS_MD_SHA256, blind_rng,
                                        NULL);
    if (rc == 0)
        rc = mbedtls_mpi_write_binary(&r, sig, 32);
    if (rc == 0)
        rc = mbedtls_mpi_write_binary(&s, sig + 32, 32);
    mbedtls_mpi_free(&s);
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&d);
    mbedtls_ecp_group_free(&grp);
    return rc;
}

int gsc_sim_quote(const uint8_t mrenclave[32], const uint8_t mrsigner[32], uint64_t attr_flags,
                  uint64_t attr_xfrm, uint16_t isvprodid, uint16_t isvsvn,
                  const uint8_t report_data[64], uint8_t *out, size_t cap, size_t *outlen)
{
    if (!mrenclave || !mrsigner || !report_data || !out || !outlen)
        return -EINVAL;
    size_t total = gsc_sim_quote_size();
    if (cap < total)
        return -ENOSPC;
    memset(out, 0, total);

    uint8_t *h = out; /* header */
    put16(h + 0, 3);  /* version */
    put16(h + 2, 2);  /* attestation key type: ECDSA-256 with P-256 */
    put32(h + 4, 0);  /* TEE type: SGX */
    put16(h + 8, GSC_SIM_QE_SVN);
    put16(h + 10, GSC_SIM_PCE_SVN);
    memcpy(h + 12, sim_vendor_id, sizeof(sim_vendor_id));

    uint8_t *b = out + HEADER_SIZE; /* ISV report body; CPUSVN and MISCSELECT stay zero */
    put64(b + 48, attr_flags);
    put64(b + 56, attr_xfrm);
    memcpy(b + 64, mrenclave, 32);
    memcpy(b + 128, mrsigner, 32);
    put16(b + 256, isvprodid);
    put16(b + 258, isvsvn);
    memcpy(b + 320, report_data, 64);

    uint8_t *p = out + SIGNED_SIZE;
    put32(p, (uint32_t)sig_data_size());
    p += 4;
    uint8_t hash[32];
    gsc_sha256(out, SIGNED_SIZE, hash);
    if (sign_p256(hash, p) != 0)
        return -EIO;
    p += 64;
    memcpy(p, gsc_sim_att_pub, sizeof(gsc_sim_att_pub));
    p += sizeof(gsc_sim_att_pub);
    memcpy(p, gsc_sim_qe_report, sizeof(gsc_sim_qe_report));
    p += sizeof(gsc_sim_qe_report);
    memcpy(p, gsc_sim_qe_report_sig, sizeof(gsc_sim_qe_report_sig));
    p += sizeof(gsc_sim_qe_report_sig);
    put16(p, (uint16_t)sizeof(gsc_sim_qe_auth_data));
    p += 2;
    memcpy(p, gsc_sim_qe_auth_data, sizeof(gsc_sim_qe_auth_data));
    p += sizeof(gsc_sim_qe_auth_data);
    put16(p, 5); /* certification data: PCK certificate chain (PEM) */
    p += 2;
    put32(p, (uint32_t)sizeof(gsc_sim_pck_chain));
    p += 4;
    memcpy(p, gsc_sim_pck_chain, sizeof(gsc_sim_pck_chain));
    p += sizeof(gsc_sim_pck_chain);
    *outlen = (size_t)(p - out);
    return *outlen == total ? 0 : -EIO;
}
