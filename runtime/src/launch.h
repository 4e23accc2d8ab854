/* Measured launch: verify the SIGSTRUCT and recompute MRENCLAVE over this executable and
 * the manifest before anything in the manifest is used. */
#ifndef GSC_RT_LAUNCH_H
#define GSC_RT_LAUNCH_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/manifest.h"
#include "../core/sigstruct.h"

typedef struct {
    char dir[PATH_MAX];        /* directory of /proc/self/exe */
    uint8_t *manifest_bytes;
    size_t manifest_len;
    gsc_manifest manifest;     /* parsed, verified */
    gsc_sigstruct_info sig;
    uint8_t mrenclave[32];
} rt_launch;

/* Fills *out or exits 126 with "gsc-runtime: launch refused: ...". */
void rt_measured_launch(rt_launch *out);

#endif
