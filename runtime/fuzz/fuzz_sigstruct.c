/* libFuzzer target: SIGSTRUCT verification on untrusted bytes. Inputs shorter than a
 * SIGSTRUCT are also tried padded onto a fixed header so the RSA path gets exercised. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sigstruct.h"

static const uint8_t HEADER[16] = {0x06, 0, 0, 0, 0xe1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0};
static const uint8_t HEADER2[16] = {1, 1, 0, 0, 0x60, 0, 0, 0, 0x60, 0, 0, 0, 1, 0, 0, 0};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gsc_sigstruct_info info;
    char err[128];
    int rc = gsc_sigstruct_verify(data, size, &info, err, sizeof(err));
    if (rc != 0 && memchr(err, '\0', sizeof(err)) == NULL)
        __builtin_trap();

    /* Second shape: a well-formed header with fuzzed body (modulus/signature/q1/q2). */
    uint8_t buf[GSC_SIGSTRUCT_SIZE];
    memset(buf, 0, sizeof(buf));
    size_t take = size < sizeof(buf) ? size : sizeof(buf);
    memcpy(buf, data, take);
    memcpy(buf, HEADER, sizeof(HEADER));
    memcpy(buf + 24, HEADER2, sizeof(HEADER2));
    buf[512] = 3;
    buf[513] = buf[514] = buf[515] = 0;
    rc = gsc_sigstruct_verify(buf, sizeof(buf), &info, err, sizeof(err));
    if (rc == 0 && info.debug != ((info.attributes_flags & 2) != 0))
        __builtin_trap();
    return 0;
}
