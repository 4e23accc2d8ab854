/* SGX enclave layout and MRENCLAVE, exactly as docs/sgx-measurement.md states. */
#ifndef GSC_MEASURE_H
#define GSC_MEASURE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t enclave_size; /* bytes, power of two */
    uint32_t max_threads;  /* 1..4096 */
    int edmm_enable;       /* 0 or 1 */
} gsc_enclave_params;

/* Error codes: 0 ok, negative on failure; err receives one line (no newline). */
#define GSC_OK 0
#define GSC_E_PARAM -1      /* bad size / thread count */
#define GSC_E_ELF -2        /* PAL is not a usable 64-bit PIE ELF */
#define GSC_E_TOO_SMALL -3  /* "enclave size is not large enough" */
#define GSC_E_NOMEM -4

/* Parse an enclave_size string: decimal digits with optional K/M/G suffix; must be a
 * nonzero power of two. Returns GSC_OK or GSC_E_PARAM. */
int gsc_parse_enclave_size(const char *s, uint64_t *out);

int gsc_measure(const uint8_t *manifest, size_t manifest_len,
                const uint8_t *pal, size_t pal_len,
                const gsc_enclave_params *params,
                uint8_t mrenclave[32], char *err, size_t errlen);

/* Enclave layout (all addresses; base 0). Stacks: stack[t] base is
 * stack_low + (max_threads-1-t)*0x40000 (stack[0] highest); likewise sig_stack_low with
 * 0x10000 per thread. */
typedef struct {
    uint64_t enclave_size;
    uint32_t max_threads;
    uint64_t manifest_base, manifest_size;
    uint64_t ssa_base, tcs_base, tls_base;
    uint64_t stack_low, sig_stack_low;
    uint64_t pal_base, pal_size;
    uint64_t free_base, free_size; /* free (heap) area [0x10000, pal_base) */
} gsc_layout;

/* Validate a PAL ELF (64-bit x86-64 ET_DYN, PT_LOADs in bounds, lowest page 0) and give
 * the size of its enclave area. GSC_OK or GSC_E_ELF with one line in err. */
int gsc_pal_check(const uint8_t *pal, size_t pal_len, uint64_t *area_size, char *err,
                  size_t errlen);

/* Place the areas top-down. GSC_OK, GSC_E_PARAM or GSC_E_TOO_SMALL. */
int gsc_enclave_layout(size_t manifest_len, uint64_t pal_size,
                       const gsc_enclave_params *params, gsc_layout *layout, char *err,
                       size_t errlen);

/* gsc_measure that also returns the layout (layout may be NULL). */
int gsc_measure_layout(const uint8_t *manifest, size_t manifest_len, const uint8_t *pal,
                       size_t pal_len, const gsc_enclave_params *params, gsc_layout *layout,
                       uint8_t mrenclave[32], char *err, size_t errlen);

#endif
