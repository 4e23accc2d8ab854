/* libFuzzer target: the PAL ELF parser, enclave layout and MRENCLAVE on untrusted bytes.
 * The first byte picks thread count / EDMM / enclave size; the rest is the PAL. Sizes stay
 * small so each run is fast. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "measure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t manifest[] = "[sgx]\nenclave_size = \"16M\"\n";
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    gsc_enclave_params p;
    p.max_threads = 1u + (sel & 3u);
    p.edmm_enable = (sel >> 2) & 1;
    p.enclave_size = (uint64_t)1 << (20 + ((sel >> 3) & 3)); /* 1M..8M */
    uint8_t mr[32];
    char err[128];
    uint64_t area = 0;
    int rc = gsc_pal_check(data + 1, size - 1, &area, err, sizeof(err));
    int rc2 = gsc_measure(manifest, sizeof(manifest) - 1, data + 1, size - 1, &p, mr, err,
                          sizeof(err));
    /* The check and the measurement must agree on whether the ELF is usable. */
    if ((rc == GSC_E_ELF) != (rc2 == GSC_E_ELF))
        __builtin_trap();
    if (rc2 != GSC_OK && memchr(err, '\0', sizeof(err)) == NULL)
        __builtin_trap();
    return 0;
}
