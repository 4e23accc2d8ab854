/* SGX enclave layout and MRENCLAVE as stated in docs/sgx-measurement.md.
 *
 * The PAL is untrusted bytes: every header field is bounds-checked before use and the
 * parser fails closed. Only libc (memcpy/memset/snprintf) is used. */
#include "measure.h"
#include "coreutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sha256.h"

#define PAGE 0x1000ULL
#define MMAP_MIN_ADDR 0x10000ULL
#define SSA_FRAME_SIZE 0x4000ULL
#define SSA_FRAMES 2ULL
#define STACK_SIZE 0x40000ULL
#define SIG_STACK_SIZE 0x10000ULL
#define MAX_THREADS 4096U
/* Largest PT_LOAD end we accept: far above any real enclave, keeps all sums in range. */
#define PAL_VADDR_LIMIT (1ULL << 47)

#define SECINFO_R 0x1ULL
#define SECINFO_W 0x2ULL
#define SECINFO_X 0x4ULL
#define SECINFO_TCS 0x100ULL
#define SECINFO_REG 0x200ULL

#define PT_LOAD 1U
#define PF_X 1U
#define PF_W 2U
#define PF_R 4U

/* Free-area EADD records are hashed in batches of this many 64-byte blocks. */
#define EADD_BATCH 512


static inline uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static inline uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static inline uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | ((uint64_t)get_u32(p + 4) << 32);
}

static inline void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t round_down(uint64_t v) { return v & ~(PAGE - 1); }
static inline uint64_t round_up(uint64_t v) { return (v + PAGE - 1) & ~(PAGE - 1); }

/* ---------------------------------------------------------------- enclave_size */

int gsc_parse_enclave_size(const char *s, uint64_t *out)
{
    if (!s || !out)
        return GSC_E_PARAM;
    uint64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return GSC_E_PARAM;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return GSC_E_PARAM;
        v = v * 10 + d;
    }
    unsigned shift = 0;
    if (*p == 'K')
        shift = 10;
    else if (*p == 'M')
        shift = 20;
    else if (*p == 'G')
        shift = 30;
    if (shift) {
        p++;
        if (v > (UINT64_MAX >> shift))
            return GSC_E_PARAM;
        v <<= shift;
    }
    if (*p != '\0')
        return GSC_E_PARAM;
    if (v == 0 || (v & (v - 1)) != 0)
        return GSC_E_PARAM;
    *out = v;
    return GSC_OK;
}

/* ---------------------------------------------------------------- PAL ELF */

typedef struct {
    const uint8_t *data;
    size_t len;
    uint64_t entry;
    uint64_t phoff;
    uint16_t phnum;
    uint64_t size; /* roundup(max(vaddr + memsz)); lowest page is 0 */
} pal_info;

#define PHDR_SIZE 56U

int gsc_pal_check(const uint8_t *pal, size_t len, uint64_t *area_size, char *err,
                  size_t errlen)
{
    if (!pal || len < 64) {
        gsc_set_err(err, errlen, "PAL is not an ELF file (truncated header)");
        return GSC_E_ELF;
    }
    if (memcmp(pal, "\x7f" "ELF", 4) != 0) {
        gsc_set_err(err, errlen, "PAL is not an ELF file (bad magic)");
        return GSC_E_ELF;
    }
    if (pal[4] != 2) {
        gsc_set_err(err, errlen, "PAL is not a 64-bit ELF file");
        return GSC_E_ELF;
    }
    if (pal[5] != 1) {
        gsc_set_err(err, errlen, "PAL is not a little-endian ELF file");
        return GSC_E_ELF;
    }
    uint16_t e_type = get_u16(pal + 16);
    uint16_t e_machine = get_u16(pal + 18);
    if (e_machine != 62) {
        gsc_set_err(err, errlen, "PAL is not an x86-64 ELF file (e_machine %u)", e_machine);
        return GSC_E_ELF;
    }
    if (e_type != 3) {
        gsc_set_err(err, errlen,
                "PAL is not position independent (ELF type %u, need ET_DYN)", e_type);
        return GSC_E_ELF;
    }
    uint64_t phoff = get_u64(pal + 32);
    uint16_t phentsize = get_u16(pal + 54);
    uint16_t phnum = get_u16(pal + 56);
    if (phentsize != PHDR_SIZE || phnum == 0 || phnum == 0xffff) {
        gsc_set_err(err, errlen, "PAL has no usable program headers");
        return GSC_E_ELF;
    }
    if (phoff > len || (uint64_t)phnum * PHDR_SIZE > len - phoff) {
        gsc_set_err(err, errlen, "PAL is truncated (program headers beyond end of file)");
        return GSC_E_ELF;
    }
    uint64_t lo = UINT64_MAX, hi = 0;
    unsigned nload = 0;
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = pal + phoff + (uint64_t)i * PHDR_SIZE;
        if (get_u32(ph) != PT_LOAD)
            continue;
        uint64_t off = get_u64(ph + 8), vaddr = get_u64(ph + 16);
        uint64_t filesz = get_u64(ph + 32), memsz = get_u64(ph + 40);
        if (memsz == 0) {
            gsc_set_err(err, errlen, "PAL has an empty PT_LOAD segment");
            return GSC_E_ELF;
        }
        if (filesz > memsz) {
            gsc_set_err(err, errlen, "PAL segment has p_filesz larger than p_memsz");
            return GSC_E_ELF;
        }
        if (off > len || filesz > len - off) {
            gsc_set_err(err, errlen, "PAL is truncated (segment data beyond end of file)");
            return GSC_E_ELF;
        }
        if (vaddr >= PAL_VADDR_LIMIT || memsz > PAL_VADDR_LIMIT - vaddr) {
            gsc_set_err(err, errlen, "PAL segment address out of range");
            return GSC_E_ELF;
        }
        if (vaddr < lo)
            lo = vaddr;
        if (vaddr + memsz > hi)
            hi = vaddr + memsz;
        nload++;
    }
    if (nload == 0) {
        gsc_set_err(err, errlen, "PAL has no PT_LOAD segments");
        return GSC_E_ELF;
    }
    if (round_down(lo) != 0) {
        gsc_set_err(err, errlen,
                "PAL is not position independent (lowest PT_LOAD address 0x%llx)",
                (unsigned long long)lo);
        return GSC_E_ELF;
    }
    if (area_size)
        *area_size = round_up(hi);
    return GSC_OK;
}

static int pal_parse(const uint8_t *pal, size_t len, pal_info *pi, char *err, size_t errlen)
{
    int rc = gsc_pal_check(pal, len, &pi->size, err, errlen);
    if (rc)
        return rc;
    pi->data = pal;
    pi->len = len;
    pi->entry = get_u64(pal + 24);
    pi->phoff = get_u64(pal + 32);
    pi->phnum = get_u16(pal + 56);
    return GSC_OK;
}

/* ---------------------------------------------------------------- layout */

int gsc_enclave_layout(size_t manifest_len, uint64_t pal_size,
                       const gsc_enclave_params *params, gsc_layout *lay, char *err,
                       size_t errlen)
{
    if (!params || !lay) {
        gsc_set_err(err, errlen, "internal error: missing parameters");
        return GSC_E_PARAM;
    }
    uint64_t s = params->enclave_size;
    uint32_t n = params->max_threads;
    if (s == 0 || (s & (s - 1)) != 0) {
        gsc_set_err(err, errlen, "enclave_size must be a nonzero power of two");
        return GSC_E_PARAM;
    }
    if (n == 0 || n > MAX_THREADS) {
        gsc_set_err(err, errlen, "max_threads must be between 1 and %u", MAX_THREADS);
        return GSC_E_PARAM;
    }
    if (manifest_len >= (size_t)PAL_VADDR_LIMIT) {
        gsc_set_err(err, errlen, "enclave size is not large enough for the manifest");
        return GSC_E_TOO_SMALL;
    }
    memset(lay, 0, sizeof(*lay));
    lay->enclave_size = s;
    lay->max_threads = n;
    lay->manifest_size = round_up((uint64_t)manifest_len + 1);

    struct {
        const char *name;
        uint64_t size;
        uint64_t *base;
    } areas[] = {
        {"manifest", lay->manifest_size, &lay->manifest_base},
        {"ssa", (uint64_t)n * SSA_FRAME_SIZE * SSA_FRAMES, &lay->ssa_base},
        {"tcs", (uint64_t)n * PAGE, &lay->tcs_base},
        {"tls", (uint64_t)n * PAGE, &lay->tls_base},
        {"stack", (uint64_t)n * STACK_SIZE, &lay->stack_low},
        {"sig_stack", (uint64_t)n * SIG_STACK_SIZE, &lay->sig_stack_low},
        {"pal", pal_size, &lay->pal_base},
    };
    uint64_t cur = s;
    for (size_t i = 0; i < sizeof(areas) / sizeof(areas[0]); i++) {
        if (areas[i].size > cur || cur - areas[i].size < MMAP_MIN_ADDR) {
            gsc_set_err(err, errlen,
                    "enclave size is not large enough: the %s area does not fit in "
                    "enclave_size 0x%llx with max_threads %u",
                    areas[i].name, (unsigned long long)s, n);
            return GSC_E_TOO_SMALL;
        }
        cur -= areas[i].size;
        *areas[i].base = cur;
    }
    lay->pal_size = pal_size;
    lay->free_base = MMAP_MIN_ADDR;
    lay->free_size = lay->pal_base - MMAP_MIN_ADDR;
    return GSC_OK;
}

/* stack[t] base: stack[0] is the highest. */
static uint64_t stack_base(const gsc_layout *l, uint32_t t)
{
    return l->stack_low + (uint64_t)(l->max_threads - 1 - t) * STACK_SIZE;
}

static uint64_t sig_stack_base(const gsc_layout *l, uint32_t t)
{
    return l->sig_stack_low + (uint64_t)(l->max_threads - 1 - t) * SIG_STACK_SIZE;
}

/* ---------------------------------------------------------------- measurement */

typedef struct {
    gsc_sha256_ctx sha;
    uint8_t rec[16 * (64 + 256)]; /* EADD-less EEXTEND stream of one page */
} measurer;

static void m_eadd(measurer *m, uint64_t off, uint64_t flags)
{
    uint8_t r[64];
    memset(r, 0, sizeof(r));
    memcpy(r, "EADD\0\0\0\0", 8);
    put_u64(r + 8, off);
    put_u64(r + 16, flags);
    gsc_sha256_blocks(&m->sha, r, 1);
}

/* EADD one page and, if data is given, EEXTEND all of it. */
static void m_page(measurer *m, uint64_t off, uint64_t flags, const uint8_t *data)
{
    m_eadd(m, off, flags);
    if (!data)
        return;
    uint8_t *p = m->rec;
    for (unsigned i = 0; i < 16; i++) {
        memset(p, 0, 64);
        memcpy(p, "EEXTEND\0", 8);
        put_u64(p + 8, off + 256ULL * i);
        memcpy(p + 64, data + 256 * i, 256);
        p += 64 + 256;
    }
    gsc_sha256_blocks(&m->sha, m->rec, sizeof(m->rec) / 64);
}

static void m_zero_pages(measurer *m, uint64_t base, uint64_t size, uint64_t flags)
{
    static const uint8_t zero[PAGE];
    for (uint64_t off = 0; off < size; off += PAGE)
        m_page(m, base + off, flags, zero);
}

static void m_free_area(measurer *m, uint64_t base, uint64_t size)
{
    uint8_t batch[EADD_BATCH * 64];
    memset(batch, 0, sizeof(batch));
    for (unsigned i = 0; i < EADD_BATCH; i++) {
        memcpy(batch + 64 * i, "EADD\0\0\0\0", 8);
        put_u64(batch + 64 * i + 16, SECINFO_REG | SECINFO_R | SECINFO_W | SECINFO_X);
    }
    uint64_t pages = size / PAGE, addr = base;
    while (pages) {
        unsigned k = pages < EADD_BATCH ? (unsigned)pages : EADD_BATCH;
        for (unsigned i = 0; i < k; i++) {
            put_u64(batch + 64 * i + 8, addr);
            addr += PAGE;
        }
        gsc_sha256_blocks(&m->sha, batch, k);
        pages -= k;
    }
}

static void m_pal(measurer *m, const pal_info *pi, uint64_t pal_base)
{
    uint8_t page[PAGE];
    for (unsigned i = 0; i < pi->phnum; i++) {
        const uint8_t *ph = pi->data + pi->phoff + (uint64_t)i * PHDR_SIZE;
        if (get_u32(ph) != PT_LOAD)
            continue;
        uint32_t pflags = get_u32(ph + 4);
        uint64_t off = get_u64(ph + 8), vaddr = get_u64(ph + 16);
        uint64_t filesz = get_u64(ph + 32), memsz = get_u64(ph + 40);
        uint64_t flags = SECINFO_REG | ((pflags & PF_R) ? SECINFO_R : 0) |
                         ((pflags & PF_W) ? SECINFO_W : 0) | ((pflags & PF_X) ? SECINFO_X : 0);
        uint64_t fend = vaddr + filesz;
        for (uint64_t a = round_down(vaddr); a < round_up(vaddr + memsz); a += PAGE) {
            memset(page, 0, sizeof(page));
            uint64_t lo = a > vaddr ? a : vaddr;
            uint64_t hi = (a + PAGE) < fend ? (a + PAGE) : fend;
            if (lo < hi)
                memcpy(page + (lo - a), pi->data + off + (lo - vaddr), (size_t)(hi - lo));
            m_page(m, pal_base + a, flags, page);
        }
    }
}

int gsc_measure_layout(const uint8_t *manifest, size_t manifest_len, const uint8_t *pal,
                       size_t pal_len, const gsc_enclave_params *params, gsc_layout *layout,
                       uint8_t mrenclave[32], char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!params || !mrenclave || (!manifest && manifest_len)) {
        gsc_set_err(err, errlen, "internal error: missing arguments");
        return GSC_E_PARAM;
    }
    pal_info pi;
    int rc = pal_parse(pal, pal_len, &pi, err, errlen);
    if (rc)
        return rc;
    gsc_layout l;
    rc = gsc_enclave_layout(manifest_len, pi.size, params, &l, err, errlen);
    if (rc)
        return rc;
    if (layout)
        *layout = l;

    measurer m;
    gsc_sha256_init(&m.sha);
    uint8_t page[PAGE];

    /* ECREATE */
    memset(page, 0, 64);
    memcpy(page, "ECREATE\0", 8);
    put_u32(page + 8, (uint32_t)(SSA_FRAME_SIZE / PAGE));
    put_u64(page + 12, l.enclave_size);
    gsc_sha256_blocks(&m.sha, page, 1);

    /* 1. manifest + NUL, zero padded */
    const uint64_t rw = SECINFO_REG | SECINFO_R | SECINFO_W;
    for (uint64_t off = 0; off < l.manifest_size; off += PAGE) {
        memset(page, 0, sizeof(page));
        if (off < manifest_len) {
            size_t take = manifest_len - off < PAGE ? (size_t)(manifest_len - off) : PAGE;
            memcpy(page, manifest + off, take);
        }
        m_page(&m, l.manifest_base + off, SECINFO_REG | SECINFO_R, page);
    }
    /* 2. ssa */
    m_zero_pages(&m, l.ssa_base, (uint64_t)l.max_threads * SSA_FRAME_SIZE * SSA_FRAMES, rw);
    /* 3. tcs */
    for (uint32_t t = 0; t < l.max_threads; t++) {
        memset(page, 0, sizeof(page));
        put_u64(page + 0x10, l.ssa_base + SSA_FRAME_SIZE * SSA_FRAMES * t);
        put_u32(page + 0x1c, (uint32_t)SSA_FRAMES);
        put_u64(page + 0x20, l.pal_base + pi.entry);
        put_u64(page + 0x38, l.tls_base + PAGE * t);
        put_u32(page + 0x40, 0xfff);
        put_u32(page + 0x44, 0xfff);
        m_page(&m, l.tcs_base + PAGE * t, SECINFO_TCS, page);
    }
    /* 4. tls */
    for (uint32_t t = 0; t < l.max_threads; t++) {
        uint64_t ssa = l.ssa_base + SSA_FRAME_SIZE * SSA_FRAMES * t;
        memset(page, 0, sizeof(page));
        put_u64(page + 0x000, l.tls_base + PAGE * t);
        put_u64(page + 0x008, 0xbadbadbadbadULL);
        put_u64(page + 0x110, l.enclave_size);
        put_u64(page + 0x118, l.tcs_base + PAGE * t);
        put_u64(page + 0x120, stack_base(&l, t) + STACK_SIZE);
        put_u64(page + 0x130, sig_stack_base(&l, t));
        put_u64(page + 0x138, sig_stack_base(&l, t) + SIG_STACK_SIZE);
        put_u64(page + 0x148, ssa);
        put_u64(page + 0x150, ssa + SSA_FRAME_SIZE - 0xb8);
        put_u64(page + 0x1a0, (uint64_t)manifest_len + 1);
        put_u64(page + 0x1a8, MMAP_MIN_ADDR);
        put_u64(page + 0x1b0, l.pal_base);
        m_page(&m, l.tls_base + PAGE * t, rw, page);
    }
    /* 5, 6. stacks, highest (thread 0) first */
    for (uint32_t t = 0; t < l.max_threads; t++)
        m_zero_pages(&m, stack_base(&l, t), STACK_SIZE, rw);
    for (uint32_t t = 0; t < l.max_threads; t++)
        m_zero_pages(&m, sig_stack_base(&l, t), SIG_STACK_SIZE, rw);
    /* 7. pal */
    m_pal(&m, &pi, l.pal_base);
    /* 8. free area: EADD only */
    if (!params->edmm_enable)
        m_free_area(&m, l.free_base, l.free_size);

    gsc_sha256_final(&m.sha, mrenclave);
    return GSC_OK;
}

int gsc_measure(const uint8_t *manifest, size_t manifest_len, const uint8_t *pal,
                size_t pal_len, const gsc_enclave_params *params, uint8_t mrenclave[32],
                char *err, size_t errlen)
{
    return gsc_measure_layout(manifest, manifest_len, pal, pal_len, params, NULL, mrenclave,
                              err, errlen);
}
