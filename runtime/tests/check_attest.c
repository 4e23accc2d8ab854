/* check_attest: driver for gsc_sim_quote (runtime/src/attest_quote.c), so pytest can check
 * its output with the Python verifier (`gsc verify-quote --allow-simulated`).
 *
 *   check_attest quote MRENCLAVE_HEX MRSIGNER_HEX FLAGS XFRM ISVPRODID ISVSVN REPORTDATA_HEX OUT
 *   check_attest selftest        argument and buffer-size checks
 *
 * Exit 0 on success, 1 on failure, 2 on usage errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest_quote.h"

static int unhex(const char *s, uint8_t *out, size_t max, size_t *n)
{
    size_t len = strlen(s);
    if (len % 2 || len / 2 > max)
        return -1;
    for (size_t i = 0; i < len / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    *n = len / 2;
    return 0;
}

static int selftest(void)
{
    uint8_t m[32] = {0}, rd[64] = {0};
    size_t need = gsc_sim_quote_size(), n = 0;
    uint8_t *buf = malloc(need);
    if (!buf)
        return 1;
    int fails = 0;
    fails += gsc_sim_quote(m, m, 0, 0, 0, 0, rd, buf, need - 1, &n) != -ENOSPC;
    fails += gsc_sim_quote(NULL, m, 0, 0, 0, 0, rd, buf, need, &n) != -EINVAL;
    fails += gsc_sim_quote(m, m, 0, 0, 0, 0, rd, NULL, need, &n) != -EINVAL;
    fails += gsc_sim_quote(m, m, 0, 0, 0, 0, rd, buf, need, NULL) != -EINVAL;
    fails += gsc_sim_quote(m, m, 0, 0, 0, 0, rd, buf, need, &n) != 0 || n != need;
    free(buf);
    printf("selftest: %d failed\n", fails);
    return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "selftest"))
        return selftest();
    if (argc != 10 || strcmp(argv[1], "quote")) {
        fprintf(stderr, "usage: check_attest quote MRENCLAVE MRSIGNER FLAGS XFRM ISVPRODID "
                        "ISVSVN REPORTDATA OUT | selftest\n");
        return 2;
    }
    uint8_t mre[32], mrs[32], rd[64] = {0};
    size_t n;
    if (unhex(argv[2], mre, 32, &n) || n != 32 || unhex(argv[3], mrs, 32, &n) || n != 32 ||
        unhex(argv[8], rd, 64, &n)) {
        fprintf(stderr, "check_attest: bad hex argument\n");
        return 2;
    }
    uint64_t flags = strtoull(argv[4], NULL, 0), xfrm = strtoull(argv[5], NULL, 0);
    uint16_t prodid = (uint16_t)strtoul(argv[6], NULL, 0), svn = (uint16_t)strtoul(argv[7], NULL, 0);
    size_t cap = gsc_sim_quote_size(), len = 0;
    uint8_t *q = malloc(cap);
    if (!q)
        return 1;
    int rc = gsc_sim_quote(mre, mrs, flags, xfrm, prodid, svn, rd, q, cap, &len);
    if (rc) {
        fprintf(stderr, "check_attest: gsc_sim_quote: %d\n", rc);
        free(q);
        return 1;
    }
    FILE *f = fopen(argv[9], "wb");
    if (!f || fwrite(q, 1, len, f) != len || fclose(f)) {
        fprintf(stderr, "check_attest: cannot write %s\n", argv[9]);
        free(q);
        return 1;
    }
    free(q);
    return 0;
}
