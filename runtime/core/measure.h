/* SGX enclave layout and MRENCLAVE, exactly as shared/docs/sgx-measurement.md states. */
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

#endif
