/* check_core: a small CLI over the gsc C core so pytest can run the very same C (built with
 * sanitizers) against every test vector.
 *
 *   check_core sha256 FILE
 *   check_core measure MANIFEST PAL SIZE THREADS EDMM   -> MRENCLAVE hex
 *   check_core verify SIG                               -> mrenclave/mrsigner/fields
 *
 * Exit 0 on success, 1 on a core error (message on stderr), 2 on usage errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "measure.h"
#include "sha256.h"
#include "sigstruct.h"

#define MAX_FILE (512u << 20)

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "check_core: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            if (cap >= MAX_FILE) {
                fprintf(stderr, "check_core: %s: too large\n", path);
                free(buf);
                fclose(f);
                return -1;
            }
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        fprintf(stderr, "check_core: %s: read failed\n", path);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

static void print_hex(const char *label, const uint8_t *p, size_t n)
{
    if (label)
        printf("%s ", label);
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
    printf("\n");
}

static int cmd_sha256(const char *path)
{
    uint8_t *data;
    size_t len;
    if (read_file(path, &data, &len))
        return 2;
    uint8_t out[32];
    /* Exercise the streaming API with uneven pieces. */
    gsc_sha256_ctx ctx;
    gsc_sha256_init(&ctx);
    size_t off = 0, step = 1;
    while (off < len) {
        size_t take = len - off < step ? len - off : step;
        gsc_sha256_update(&ctx, data + off, take);
        off += take;
        step = step * 3 + 1;
    }
    gsc_sha256_final(&ctx, out);
    uint8_t one[32];
    gsc_sha256(data, len, one);
    free(data);
    if (memcmp(one, out, 32) != 0) {
        fprintf(stderr, "check_core: streaming and one-shot SHA-256 differ\n");
        return 1;
    }
    print_hex(NULL, out, 32);
    return 0;
}

static int cmd_measure(char **argv)
{
    uint8_t *manifest, *pal;
    size_t mlen, plen;
    gsc_enclave_params p;
    if (gsc_parse_enclave_size(argv[2], &p.enclave_size) != GSC_OK) {
        fprintf(stderr, "check_core: bad enclave size '%s'\n", argv[2]);
        return 2;
    }
    char *end;
    unsigned long t = strtoul(argv[3], &end, 10);
    if (*end || t > 0xffffffffUL) {
        fprintf(stderr, "check_core: bad thread count\n");
        return 2;
    }
    p.max_threads = (uint32_t)t;
    p.edmm_enable = strcmp(argv[4], "0") != 0;
    if (read_file(argv[0], &manifest, &mlen))
        return 2;
    if (read_file(argv[1], &pal, &plen)) {
        free(manifest);
        return 2;
    }
    uint8_t mr[32];
    char err[256];
    int rc = gsc_measure(manifest, mlen, pal, plen, &p, mr, err, sizeof(err));
    free(manifest);
    free(pal);
    if (rc != GSC_OK) {
        fprintf(stderr, "check_core: error %d: %s\n", rc, err);
        return 1;
    }
    print_hex(NULL, mr, 32);
    return 0;
}

static int cmd_verify(const char *path)
{
    uint8_t *sig;
    size_t len;
    if (read_file(path, &sig, &len))
        return 2;
    gsc_sigstruct_info info;
    char err[256];
    int rc = gsc_sigstruct_verify(sig, len, &info, err, sizeof(err));
    free(sig);
    if (rc != 0) {
        fprintf(stderr, "check_core: error %d: %s\n", rc, err);
        return 1;
    }
    print_hex("mrenclave", info.mrenclave, 32);
    print_hex("mrsigner", info.mrsigner, 32);
    printf("isv_prod_id %u\nisv_svn %u\ndate %08x\nmisc_select %u\n", info.isv_prod_id,
           info.isv_svn, (unsigned)info.date, (unsigned)info.misc_select);
    printf("attributes_flags %llu\nattributes_xfrm %llu\nattribute_mask_xfrm %llu\ndebug %d\n",
           (unsigned long long)info.attributes_flags, (unsigned long long)info.attributes_xfrm,
           (unsigned long long)info.attribute_mask_xfrm, info.debug);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "sha256") == 0)
        return cmd_sha256(argv[2]);
    if (argc == 7 && strcmp(argv[1], "measure") == 0)
        return cmd_measure(argv + 2);
    if (argc == 3 && strcmp(argv[1], "verify") == 0)
        return cmd_verify(argv[2]);
    fprintf(stderr, "usage: check_core sha256 FILE | measure MANIFEST PAL SIZE THREADS EDMM | "
                    "verify SIG\n");
    return 2;
}
