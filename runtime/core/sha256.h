/* SHA-256 (FIPS 180-4) for the gsc core: portable C plus an x86 SHA-NI path chosen at run
 * time. Shared by the runtime (static) and the Python package (cffi). */
#ifndef GSC_SHA256_H
#define GSC_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define GSC_SHA256_LEN 32

typedef struct {
    uint32_t h[8];
    uint64_t total;      /* bytes hashed so far */
    uint8_t buf[64];
    size_t buflen;
} gsc_sha256_ctx;

void gsc_sha256_init(gsc_sha256_ctx *ctx);
void gsc_sha256_update(gsc_sha256_ctx *ctx, const void *data, size_t len);
void gsc_sha256_final(gsc_sha256_ctx *ctx, uint8_t out[GSC_SHA256_LEN]);
void gsc_sha256(const void *data, size_t len, uint8_t out[GSC_SHA256_LEN]);
/* Compress whole 64-byte blocks straight into ctx->h (ctx->buflen must be 0). */
void gsc_sha256_blocks(gsc_sha256_ctx *ctx, const uint8_t *blocks, size_t nblocks);
/* 1 when the SHA-NI path is in use (for benchmarks and tests). */
int gsc_sha256_accelerated(void);
/* Tests/benchmarks: 0 forces the portable path, nonzero re-enables SHA-NI when the CPU has
 * it. Returns the resulting gsc_sha256_accelerated(). */
int gsc_sha256_set_accelerated(int enable);

#endif
