/* Reader for Gramine's encrypted files (protected files), format versions 2 and 1.
 *
 * Layout (all little-endian; node = 4096 bytes, numbered by position in the file):
 *   node 0  metadata: "GRAFS_PF", major, minor, nonce[32], mac[16], (v2: flags), then the
 *           AES-GCM-encrypted 3884-byte part {path[772], size u64, root key[16], root tag[16],
 *           data[3072]} at byte 59 (v2) or 58 (v1);
 *   MHT node m at 1 + 97*m: 96 {key, tag} entries for data nodes 96m.., then 32 for its child
 *           MHT nodes 32m+1..; the root (m = 0) is keyed from the metadata;
 *   data node d at d + 2 + d/96: plaintext bytes 3072 + 4096*d ...
 * Every node: AES-128-GCM, zero 12-byte IV, no AAD, tag kept by the parent. The metadata key
 * is AES-CMAC(wrap key, 01000000 || label[64] || nonce[32] || 80000000). */
#include "pf.h"
#include "coreutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/cipher.h>
#include <mbedtls/cmac.h>
#include <mbedtls/gcm.h>
#include <mbedtls/platform_util.h>

#define NODE GSC_PF_NODE_SIZE
#define NONCE_SIZE 32
#define TAG_SIZE 16
#define KEY_SIZE 16
#define PATH_FIELD 772
#define MD_DATA 3072
#define EP_SIZE (PATH_FIELD + 8 + KEY_SIZE + TAG_SIZE + MD_DATA) /* 3884 */
#define EP_OFF_SIZE PATH_FIELD
#define EP_OFF_ROOT_KEY (EP_OFF_SIZE + 8)
#define EP_OFF_ROOT_TAG (EP_OFF_ROOT_KEY + KEY_SIZE)
#define EP_OFF_DATA (EP_OFF_ROOT_TAG + TAG_SIZE)
#define HDR_MAJOR 8
#define HDR_NONCE 10
#define HDR_MAC 42
#define DATA_PER_MHT 96
#define CHILDREN_PER_MHT 32
#define ENTRY 32
#define MHT_SLOTS 64 /* direct-mapped cache of decrypted MHT nodes (m % MHT_SLOTS) */

static const uint8_t FILE_ID[8] = {'G', 'R', 'A', 'F', 'S', '_', 'P', 'F'};
static const char LABEL[] = "SGX-PROTECTED-FS-METADATA-KEY";

typedef struct {
    uint64_t m;
    int valid;
    uint8_t plain[NODE];
} mht_slot;

struct gsc_pf {
    gsc_pf_read_cb read_cb;
    void *ctx;
    int major;
    uint64_t size;
    char path[PATH_FIELD + 1];
    uint8_t md_data[MD_DATA];
    uint8_t root[NODE];
    uint64_t data_d;
    int data_valid;
    uint8_t data_plain[NODE];
    uint8_t ct[NODE];
    mht_slot mht[MHT_SLOTS];
};

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* 0 if the tag verifies (out holds the plaintext), -1 otherwise (out wiped). */
static int gcm_open(const uint8_t key[KEY_SIZE], const uint8_t *in, size_t len,
                    const uint8_t tag[TAG_SIZE], uint8_t *out)
{
    static const uint8_t iv[12] = {0};
    mbedtls_gcm_context gcm;
    mbedtls_gcm_init(&gcm);
    int rc = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 128);
    if (rc == 0)
        rc = mbedtls_gcm_auth_decrypt(&gcm, len, iv, sizeof(iv), NULL, 0, tag, TAG_SIZE, in, out);
    mbedtls_gcm_free(&gcm);
    if (rc != 0) {
        mbedtls_platform_zeroize(out, len);
        return -1;
    }
    return 0;
}

static int metadata_key(const uint8_t wrap[KEY_SIZE], const uint8_t nonce[NONCE_SIZE],
                        uint8_t out[KEY_SIZE])
{
    uint8_t msg[4 + 64 + NONCE_SIZE + 4];
    memset(msg, 0, sizeof(msg));
    msg[0] = 1;
    memcpy(msg + 4, LABEL, sizeof(LABEL) - 1);
    memcpy(msg + 68, nonce, NONCE_SIZE);
    msg[100] = 0x80;
    const mbedtls_cipher_info_t *info = mbedtls_cipher_info_from_type(MBEDTLS_CIPHER_AES_128_ECB);
    if (info == NULL)
        return -1;
    return mbedtls_cipher_cmac(info, wrap, 128, msg, sizeof(msg), out) == 0 ? 0 : -1;
}

/* Read physical node n into buf: 0, or -1 on a short read or an offset past 2^64. */
static int read_node(gsc_pf *pf, uint64_t n, uint8_t *buf)
{
    if (n > UINT64_MAX / NODE)
        return -1;
    return pf->read_cb(pf->ctx, n * NODE, buf, NODE) == 0 ? 0 : -1;
}

/* The decrypted MHT node m (m >= 0), fetching and verifying parents first; NULL on failure
 * with err filled. */
static const uint8_t *get_mht(gsc_pf *pf, uint64_t m, uint64_t offset, char *err, size_t errlen)
{
    if (m == 0)
        return pf->root;
    mht_slot *slot = &pf->mht[m % MHT_SLOTS];
    if (slot->valid && slot->m == m)
        return slot->plain;
    uint64_t parent_m = (m - 1) / CHILDREN_PER_MHT;
    const uint8_t *parent = get_mht(pf, parent_m, offset, err, errlen);
    if (parent == NULL)
        return NULL;
    size_t e = (DATA_PER_MHT + (size_t)((m - 1) % CHILDREN_PER_MHT)) * ENTRY;
    uint8_t key[KEY_SIZE], tag[TAG_SIZE];
    memcpy(key, parent + e, KEY_SIZE); /* the slot below may be the parent's */
    memcpy(tag, parent + e + KEY_SIZE, TAG_SIZE);
    slot->valid = 0;
    uint64_t phys = 1 + (uint64_t)(DATA_PER_MHT + 1) * m;
    int rc;
    if (read_node(pf, phys, pf->ct) != 0) {
        gsc_set_err(err, errlen, "read at offset %llu: Callback failed (-11): MHT node %llu "
                    "(node %llu) missing (short read)", (unsigned long long)offset,
                    (unsigned long long)m, (unsigned long long)phys);
        rc = -1;
    } else if (gcm_open(key, pf->ct, NODE, tag, slot->plain) != 0) {
        gsc_set_err(err, errlen, "read at offset %llu: Callback failed (-11): MHT node %llu "
                    "(node %llu) GCM tag check failed", (unsigned long long)offset,
                    (unsigned long long)m, (unsigned long long)phys);
        rc = -1;
    } else {
        rc = 0;
    }
    mbedtls_platform_zeroize(key, sizeof(key));
    if (rc != 0)
        return NULL;
    slot->m = m;
    slot->valid = 1;
    return slot->plain;
}

static const uint8_t *get_data(gsc_pf *pf, uint64_t d, uint64_t offset, char *err,
                               size_t errlen)
{
    if (pf->data_valid && pf->data_d == d)
        return pf->data_plain;
    const uint8_t *mht = get_mht(pf, d / DATA_PER_MHT, offset, err, errlen);
    if (mht == NULL)
        return NULL;
    size_t e = (size_t)(d % DATA_PER_MHT) * ENTRY;
    uint64_t phys = d + 2 + d / DATA_PER_MHT;
    pf->data_valid = 0;
    if (read_node(pf, phys, pf->ct) != 0) {
        gsc_set_err(err, errlen, "read at offset %llu: Callback failed (-11): data node %llu "
                    "(node %llu) missing (short read)", (unsigned long long)offset,
                    (unsigned long long)d, (unsigned long long)phys);
        return NULL;
    }
    if (gcm_open(mht + e, pf->ct, NODE, mht + e + KEY_SIZE, pf->data_plain) != 0) {
        gsc_set_err(err, errlen, "read at offset %llu: Callback failed (-11): data node %llu "
                    "(node %llu) GCM tag check failed", (unsigned long long)offset,
                    (unsigned long long)d, (unsigned long long)phys);
        return NULL;
    }
    pf->data_d = d;
    pf->data_valid = 1;
    return pf->data_plain;
}

int gsc_pf_open(const uint8_t key[16], const char *path, uint64_t underlying_size,
                gsc_pf_read_cb read_cb, void *ctx, gsc_pf **out, char *err, size_t errlen)
{
    if (out != NULL)
        *out = NULL;
    if (key == NULL || read_cb == NULL || out == NULL) {
        gsc_set_err(err, errlen, "open: Invalid parameter (-3): no key, callback or handle");
        return GSC_PF_E_INVALID_PARAMETER;
    }
    if (path != NULL && strnlen(path, GSC_PF_MAX_PATH + 1) > GSC_PF_MAX_PATH) {
        gsc_set_err(err, errlen, "open: Path is too long (-12): more than %d bytes",
                    GSC_PF_MAX_PATH);
        return GSC_PF_E_PATH_TOO_LONG;
    }
    if (underlying_size % NODE != 0) {
        gsc_set_err(err, errlen,
                    "open: Invalid header (-7): size on disk is not a multiple of 4096");
        return GSC_PF_E_INVALID_HEADER;
    }
    gsc_pf *pf = calloc(1, sizeof(*pf));
    if (pf == NULL) {
        gsc_set_err(err, errlen, "open: out of memory");
        return GSC_PF_E_NO_MEMORY;
    }
    pf->read_cb = read_cb;
    pf->ctx = ctx;

    uint8_t node0[NODE];
    uint8_t part[EP_SIZE];
    uint8_t mkey[KEY_SIZE];
    int rc = GSC_PF_E_CALLBACK_FAILED;
    if (read_node(pf, 0, node0) != 0) {
        gsc_set_err(err, errlen, "open: Callback failed (-11): metadata node missing (short read)");
        goto fail;
    }
    if (memcmp(node0, FILE_ID, sizeof(FILE_ID)) != 0) {
        gsc_set_err(err, errlen, "open: Invalid header (-7): file_id is not GRAFS_PF");
        rc = GSC_PF_E_INVALID_HEADER;
        goto fail;
    }
    size_t ep_off;
    if (node0[HDR_MAJOR] == 1) {
        ep_off = 58;
    } else if (node0[HDR_MAJOR] == 2) {
        ep_off = 59; /* byte 58: feature_flags, ignored without recovery (as Gramine) */
    } else {
        gsc_set_err(err, errlen, "open: Invalid version (-6): unknown major_version %u",
                    (unsigned)node0[HDR_MAJOR]);
        rc = GSC_PF_E_INVALID_VERSION;
        goto fail;
    }
    pf->major = node0[HDR_MAJOR];
    if (metadata_key(key, node0 + HDR_NONCE, mkey) != 0 ||
        gcm_open(mkey, node0 + ep_off, EP_SIZE, node0 + HDR_MAC, part) != 0) {
        gsc_set_err(err, errlen, "open: Callback failed (-11): metadata GCM tag check failed");
        goto fail;
    }
    const uint8_t *nul = memchr(part, 0, PATH_FIELD);
    if (nul != NULL)
        memcpy(pf->path, part, (size_t)(nul - part) + 1);
    if (path != NULL &&
        (nul == NULL || (size_t)(nul - part) != strlen(path) ||
         memcmp(path, part, (size_t)(nul - part)) != 0)) {
        gsc_set_err(err, errlen,
                    "open: Invalid path (-8): the bound path differs from the opened path");
        rc = GSC_PF_E_INVALID_PATH;
        goto fail;
    }
    pf->size = le64(part + EP_OFF_SIZE);
    memcpy(pf->md_data, part + EP_OFF_DATA, MD_DATA);
    if (pf->size > MD_DATA) {
        if (read_node(pf, 1, pf->ct) != 0) {
            gsc_set_err(err, errlen,
                        "open: Callback failed (-11): root MHT node missing (short read)");
            goto fail;
        }
        if (gcm_open(part + EP_OFF_ROOT_KEY, pf->ct, NODE, part + EP_OFF_ROOT_TAG, pf->root) != 0) {
            gsc_set_err(err, errlen,
                        "open: Callback failed (-11): root MHT node GCM tag check failed");
            goto fail;
        }
    }
    mbedtls_platform_zeroize(part, sizeof(part));
    mbedtls_platform_zeroize(mkey, sizeof(mkey));
    *out = pf;
    return 0;

fail:
    mbedtls_platform_zeroize(part, sizeof(part));
    mbedtls_platform_zeroize(mkey, sizeof(mkey));
    gsc_pf_close(pf);
    return rc;
}

int gsc_pf_pread(gsc_pf *pf, uint64_t offset, void *buf, size_t len, size_t *nread, char *err,
                 size_t errlen)
{
    if (nread != NULL)
        *nread = 0;
    if (pf == NULL || nread == NULL || (buf == NULL && len != 0)) {
        gsc_set_err(err, errlen, "read: Invalid parameter (-3): no handle or buffer");
        return GSC_PF_E_INVALID_PARAMETER;
    }
    if (len == 0)
        return 0;
    if (offset > pf->size) {
        gsc_set_err(err, errlen, "read at offset %llu: Invalid parameter (-3): beyond the end",
                    (unsigned long long)offset);
        return GSC_PF_E_INVALID_PARAMETER;
    }
    uint64_t left = pf->size - offset;
    size_t want = (uint64_t)len < left ? len : (size_t)left;
    uint8_t *dst = buf;
    uint64_t pos = offset;
    size_t done = 0;
    if (pos < MD_DATA && done < want) {
        size_t n = MD_DATA - (size_t)pos;
        if (n > want)
            n = want;
        memcpy(dst, pf->md_data + pos, n);
        done += n;
        pos += n;
    }
    while (done < want) {
        uint64_t d = (pos - MD_DATA) / NODE;
        size_t within = (size_t)((pos - MD_DATA) % NODE);
        const uint8_t *node = get_data(pf, d, offset, err, errlen);
        if (node == NULL) {
            mbedtls_platform_zeroize(buf, len);
            return GSC_PF_E_CALLBACK_FAILED;
        }
        size_t n = NODE - within;
        if (n > want - done)
            n = want - done;
        memcpy(dst + done, node + within, n);
        done += n;
        pos += n;
    }
    *nread = done;
    return 0;
}

uint64_t gsc_pf_size(const gsc_pf *pf) { return pf ? pf->size : 0; }
int gsc_pf_major_version(const gsc_pf *pf) { return pf ? pf->major : 0; }
const char *gsc_pf_bound_path(const gsc_pf *pf) { return pf ? pf->path : ""; }

void gsc_pf_close(gsc_pf *pf)
{
    if (pf == NULL)
        return;
    mbedtls_platform_zeroize(pf, sizeof(*pf));
    free(pf);
}

int gsc_pf_fd_read(void *ctx, uint64_t offset, void *buf, size_t len)
{
    if (ctx == NULL || len > (uint64_t)INT64_MAX || offset > (uint64_t)INT64_MAX - len)
        return -1;
    int fd = *(const int *)ctx;
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

int gsc_pf_mem_read(void *ctx, uint64_t offset, void *buf, size_t len)
{
    const gsc_pf_mem *mem = ctx;
    if (mem == NULL || offset > mem->len || len > mem->len - offset)
        return -1;
    memcpy(buf, mem->data + offset, len);
    return 0;
}
