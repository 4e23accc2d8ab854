/* SHA-256 (FIPS 180-4): portable C plus an x86-64 SHA-NI compress function chosen at run
 * time through cpuid. The SHA-NI function is compiled with a target attribute so this file
 * builds without -msha. Only libc (memcpy/memset) is used. */
#include "sha256.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GSC_HAVE_SHANI_CODE 1
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t K256[64] __attribute__((aligned(16))) = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
};

static inline uint32_t ror32(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static inline uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void compress_portable(uint32_t h[8], const uint8_t *p, size_t nblocks)
{
    uint32_t w[64];
    while (nblocks--) {
        for (int i = 0; i < 16; i++)
            w[i] = load_be32(p + 4 * i);
        for (int i = 16; i < 64; i++) {
            uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
            uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
        uint32_t e = h[4], f = h[5], g = h[6], hh = h[7];
        for (int i = 0; i < 64; i++) {
            uint32_t S1 = ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25);
            uint32_t ch = (e & f) ^ (~e & g);
            uint32_t t1 = hh + S1 + ch + K256[i] + w[i];
            uint32_t S0 = ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22);
            uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
            uint32_t t2 = S0 + maj;
            hh = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
        h[4] += e;
        h[5] += f;
        h[6] += g;
        h[7] += hh;
        p += 64;
    }
}

#ifdef GSC_HAVE_SHANI_CODE
/* Four rounds on message group g (register MG). Interleaved with them, as the SHA
 * extensions intend: the next group MN is finished with msg2 (DO2) and the previous group
 * MP gets msg1 for group g+3 (DO1), so the schedule hides under the round latency. */
#define SHANI_GROUP(g, MG, MN, MP, DO2, DO1)                                             \
    do {                                                                                 \
        __m128i t_ = _mm_add_epi32((MG), _mm_load_si128((const __m128i *)&K256[4 * (g)])); \
        cdgh = _mm_sha256rnds2_epu32(cdgh, abef, t_);                                    \
        if (DO2)                                                                         \
            (MN) = _mm_sha256msg2_epu32(                                                 \
                _mm_add_epi32((MN), _mm_alignr_epi8((MG), (MP), 4)), (MG));              \
        t_ = _mm_shuffle_epi32(t_, 0x0e);                                                \
        abef = _mm_sha256rnds2_epu32(abef, cdgh, t_);                                    \
        if (DO1)                                                                         \
            (MP) = _mm_sha256msg1_epu32((MP), (MG));                                     \
    } while (0)

__attribute__((target("sha,sse4.1"))) static void compress_shani(uint32_t h[8],
                                                                  const uint8_t *p,
                                                                  size_t nblocks)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    /* h[0..3] = A B C D, h[4..7] = E F G H; the instructions want ABEF and CDGH. */
    __m128i dcba = _mm_loadu_si128((const __m128i *)&h[0]);
    __m128i hgfe = _mm_loadu_si128((const __m128i *)&h[4]);
    __m128i cdab = _mm_shuffle_epi32(dcba, 0xb1);
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1b);
    __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
    __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xf0);

    while (nblocks--) {
        const __m128i abef0 = abef, cdgh0 = cdgh;
        __m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 0)), bswap);
        __m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), bswap);
        __m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), bswap);
        __m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), bswap);
        SHANI_GROUP(0, m0, m1, m3, 0, 0);
        SHANI_GROUP(1, m1, m2, m0, 0, 1);
        SHANI_GROUP(2, m2, m3, m1, 0, 1);
        SHANI_GROUP(3, m3, m0, m2, 1, 1);
        SHANI_GROUP(4, m0, m1, m3, 1, 1);
        SHANI_GROUP(5, m1, m2, m0, 1, 1);
        SHANI_GROUP(6, m2, m3, m1, 1, 1);
        SHANI_GROUP(7, m3, m0, m2, 1, 1);
        SHANI_GROUP(8, m0, m1, m3, 1, 1);
        SHANI_GROUP(9, m1, m2, m0, 1, 1);
        SHANI_GROUP(10, m2, m3, m1, 1, 1);
        SHANI_GROUP(11, m3, m0, m2, 1, 1);
        SHANI_GROUP(12, m0, m1, m3, 1, 1);
        SHANI_GROUP(13, m1, m2, m0, 1, 0);
        SHANI_GROUP(14, m2, m3, m1, 1, 0);
        SHANI_GROUP(15, m3, m0, m2, 0, 0);
        abef = _mm_add_epi32(abef, abef0);
        cdgh = _mm_add_epi32(cdgh, cdgh0);
        p += 64;
    }

    __m128i feba = _mm_shuffle_epi32(abef, 0x1b);
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xb1);
    dcba = _mm_blend_epi16(feba, dchg, 0xf0);
    hgfe = _mm_alignr_epi8(dchg, feba, 8);
    _mm_storeu_si128((__m128i *)&h[0], dcba);
    _mm_storeu_si128((__m128i *)&h[4], hgfe);
}

static int cpu_has_shani(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    if (!(c & (1u << 19)) || !(c & (1u << 9))) /* SSE4.1, SSSE3 */
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & (1u << 29)) != 0; /* SHA */
}
#endif

/* -1: not probed yet; 0: portable; 1: SHA-NI. */
static int accel_state = -1;

static int accel(void)
{
    int s = __atomic_load_n(&accel_state, __ATOMIC_RELAXED);
    if (s < 0) {
#ifdef GSC_HAVE_SHANI_CODE
        s = cpu_has_shani();
#else
        s = 0;
#endif
        __atomic_store_n(&accel_state, s, __ATOMIC_RELAXED);
    }
    return s;
}

int gsc_sha256_accelerated(void) { return accel(); }

int gsc_sha256_set_accelerated(int enable)
{
    int s = 0;
#ifdef GSC_HAVE_SHANI_CODE
    if (enable)
        s = cpu_has_shani();
#else
    (void)enable;
#endif
    __atomic_store_n(&accel_state, s, __ATOMIC_RELAXED);
    return s;
}

static void compress(uint32_t h[8], const uint8_t *p, size_t nblocks)
{
    if (nblocks == 0)
        return;
#ifdef GSC_HAVE_SHANI_CODE
    if (accel()) {
        compress_shani(h, p, nblocks);
        return;
    }
#endif
    compress_portable(h, p, nblocks);
}

void gsc_sha256_init(gsc_sha256_ctx *ctx)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(ctx->h, iv, sizeof(iv));
    ctx->total = 0;
    ctx->buflen = 0;
    memset(ctx->buf, 0, sizeof(ctx->buf));
}

void gsc_sha256_update(gsc_sha256_ctx *ctx, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (len == 0)
        return;
    ctx->total += len;
    if (ctx->buflen) {
        size_t take = 64 - ctx->buflen;
        if (take > len)
            take = len;
        memcpy(ctx->buf + ctx->buflen, p, take);
        ctx->buflen += take;
        p += take;
        len -= take;
        if (ctx->buflen < 64)
            return;
        compress(ctx->h, ctx->buf, 1);
        ctx->buflen = 0;
    }
    size_t whole = len / 64;
    compress(ctx->h, p, whole);
    p += whole * 64;
    len -= whole * 64;
    if (len) {
        memcpy(ctx->buf, p, len);
        ctx->buflen = len;
    }
}

void gsc_sha256_blocks(gsc_sha256_ctx *ctx, const uint8_t *blocks, size_t nblocks)
{
    if (ctx->buflen) { /* contract violation: stay correct anyway */
        gsc_sha256_update(ctx, blocks, nblocks * 64);
        return;
    }
    ctx->total += (uint64_t)nblocks * 64;
    compress(ctx->h, blocks, nblocks);
}

void gsc_sha256_final(gsc_sha256_ctx *ctx, uint8_t out[GSC_SHA256_LEN])
{
    uint64_t bits = ctx->total * 8;
    uint8_t pad[72];
    size_t padlen = (ctx->buflen < 56) ? 56 - ctx->buflen : 120 - ctx->buflen;
    memset(pad, 0, sizeof(pad));
    pad[0] = 0x80;
    for (int i = 0; i < 8; i++)
        pad[padlen + (size_t)i] = (uint8_t)(bits >> (56 - 8 * i));
    gsc_sha256_update(ctx, pad, padlen + 8);
    for (int i = 0; i < 8; i++)
        store_be32(out + 4 * i, ctx->h[i]);
    memset(ctx, 0, sizeof(*ctx));
}

void gsc_sha256(const void *data, size_t len, uint8_t out[GSC_SHA256_LEN])
{
    gsc_sha256_ctx ctx;
    gsc_sha256_init(&ctx);
    gsc_sha256_update(&ctx, data, len);
    gsc_sha256_final(&ctx, out);
}
