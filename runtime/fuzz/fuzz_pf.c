/* libFuzzer target: the protected-files reader (runtime/core/pf.c) on untrusted file bytes.
 *
 * The key is the one of the development vectors, so seeds made from those vectors decrypt
 * and mutations reach the MHT and data-node code. Input byte 0 selects the shape: bit 0 =
 * check the path "negdir/base.pf", bit 1 = round the size down to whole nodes (to get past
 * the size check), bits 2..7 = the read chunk size in nodes (+1). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pf.h"

static const uint8_t KEY[16] = {0x7d, 0xed, 0xc7, 0xd5, 0x58, 0x77, 0x7e, 0xba,
                                0x13, 0xc8, 0x59, 0x73, 0x59, 0xf5, 0x1c, 0x79};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    gsc_pf_mem mem = {data + 1, size - 1};
    uint64_t usize = mem.len;
    if (mode & 2)
        usize -= usize % GSC_PF_NODE_SIZE;
    char err[160];
    gsc_pf *pf = NULL;
    int rc = gsc_pf_open(KEY, (mode & 1) ? "negdir/base.pf" : NULL, usize, gsc_pf_mem_read, &mem,
                         &pf, err, sizeof(err));
    if (rc != 0) {
        if (pf != NULL || memchr(err, '\0', sizeof(err)) == NULL)
            __builtin_trap();
        return 0;
    }
    static uint8_t buf[64 * GSC_PF_NODE_SIZE + 7];
    size_t chunk = ((size_t)(mode >> 2) + 1) * GSC_PF_NODE_SIZE - (mode & 1);
    uint64_t off = 0, total = gsc_pf_size(pf);
    /* bounded: a crafted size needs the key, but stay cheap anyway */
    for (int i = 0; i < 512 && off < total; i++) {
        size_t n = 0;
        if (gsc_pf_pread(pf, off, buf, chunk, &n, err, sizeof(err)) != 0)
            break;
        if (n == 0 || n > chunk)
            __builtin_trap();
        off += n;
    }
    size_t n = 0;
    if (gsc_pf_pread(pf, total + 1, buf, 1, &n, err, sizeof(err)) == 0)
        __builtin_trap(); /* past the end must be refused */
    gsc_pf_close(pf);
    return 0;
}
