/* gsc's SIMULATED SGX quote: a real-format DCAP ECDSA quote v3 for the enclave identity the
 * runtime verified at launch, signed with gsc's simulated attestation key. That key and the
 * certification data (PCK chain ending in "gsc SIMULATED SGX Root CA - proves nothing about
 * hardware") are public by design: such a quote proves nothing about hardware, and
 * verifiers refuse it unless told --allow-simulated. */
#ifndef GSC_ATTEST_QUOTE_H
#define GSC_ATTEST_QUOTE_H

#include <stddef.h>
#include <stdint.h>

/* Size of every simulated quote (the certification data is fixed). */
size_t gsc_sim_quote_size(void);

/* Write the quote into out[0..cap). Returns 0 and sets *outlen, or -EINVAL (NULL pointer),
 * -ENOSPC (cap < gsc_sim_quote_size()), -EIO (signing failed). */
int gsc_sim_quote(const uint8_t mrenclave[32], const uint8_t mrsigner[32], uint64_t attr_flags,
                  uint64_t attr_xfrm, uint16_t isvprodid, uint16_t isvsvn,
                  const uint8_t report_data[64], uint8_t *out, size_t cap, size_t *outlen);

#endif
