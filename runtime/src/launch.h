/* Measured launch: verify the SIGSTRUCT and recompute MRENCLAVE over this executable and
 * the manifest before anything in the manifest is used. */
#ifndef GSC_RT_LAUNCH_H
#define GSC_RT_LAUNCH_H

#include <limits.h>
#include <pthread.h>
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
    /* private: the measurement in progress (rt_launch_begin .. rt_launch_finish) */
    uint8_t *exe;
    size_t exe_len;
    int measure_rc;
    char measure_err[256];
    int threaded;
    pthread_t measurer;
} rt_launch;

/* Fills *out or exits 126 with "gsc-runtime: launch refused: ...". Same as
 * rt_launch_begin followed at once by rt_launch_finish. */
void rt_measured_launch(rt_launch *out);

/* Reads the executable, the signature and the manifest, verifies the SIGSTRUCT, parses
 * the manifest and starts recomputing MRENCLAVE (in a second thread when it can be
 * started; else at once). Exits 126 on failure. Until rt_launch_finish returns, the
 * manifest is NOT verified: the caller may only do work that has no effect outside this
 * process and that a refusal undoes (docs/runtime.md, section 1). */
void rt_launch_begin(rt_launch *out);

/* Waits for the measurement and compares it with the signed one (debug attribute,
 * isvprodid/isvsvn, operator pins); sets the log level. Exits 126 on any mismatch. */
void rt_launch_finish(rt_launch *out);

#endif
