/* The app's Landlock domain (issue 8): the kernel enforces what the app may read, write
 * and execute; the supervisor verifies hashes. Built in the runtime before fork, applied
 * in the child just before the seccomp filter and the exec of the entrypoint.
 *
 *   trusted file          READ_FILE, + EXECUTE when listed in gsc.executables (older
 *                         manifests without it: when it has an x bit at launch)
 *   trusted directory     READ_DIR (every ancestor of a trusted file or pinned symlink);
 *                         READ_FILE|READ_DIR at the top of a whole subtree (nscheck.h),
 *                         whose non-executable files then get no rule of their own
 *   allowed path, tmpfs   every handled right except EXECUTE
 *   /etc/hosts, /etc/hostname, /etc/resolv.conf   READ_FILE (Docker's, never trusted)
 *   anything else         nothing
 *
 * Rules attach to the inodes found at launch, so a later rename or replacement yields an
 * inode with no rule. Landlock ABI >= 3 is required unless the manifest sets
 * gsc.insecure__allow_no_landlock (then the supervisor alone enforces, with its races). */
#ifndef GSC_RT_LANDLOCK_H
#define GSC_RT_LANDLOCK_H

#include <stddef.h>

#include "../core/manifest.h"
#include "nscheck.h"
#include "ttable.h"

typedef struct {
    int ruleset_fd;   /* -1 in the weak mode (no Landlock) */
    int abi;          /* 0 when Landlock is unavailable */
    gsc_ttable tt;    /* the trusted files opened at launch (always built) */
    size_t nrules;    /* rules added (for the logs and the benchmark) */
    size_t ndirrules; /* of which directory rules with READ_FILE (whole subtrees) */
    double table_ms;  /* wall time of the trusted-file table + file rules (for the logs) */
} gsc_lock;

/* 1 once the child's domain is in force (the supervisor's process never has one: it
 * reads this to know whether the kernel is enforcing for the app). Set by prepare when a
 * ruleset was built; the child enforces it before exec or does not run. */
extern int gsc_landlock_active;

/* The table built by the last successful gsc_landlock_prepare (NULL before): the
 * supervisor's view of the trusted files (identity lookup, verification state). */
extern gsc_ttable *gsc_rt_ttable;

/* Parent, before fork, after the namespace check (w: its directory descriptors). 0, or -1 with one line in err (the caller refuses the launch):
 * Landlock missing or older than ABI 3 without the weak mode, a trusted path that is not
 * canonical (a symlink on the way, not a regular file), an allowed path that resolves to
 * a place holding trusted files, or a kernel error while building the rules. */
int gsc_landlock_prepare(const gsc_manifest *m, const gsc_nswalk *w, gsc_lock *out, char *err,
                         size_t errlen);

/* Child, after fork, before the seccomp filter and exec: sets no_new_privs and restricts
 * itself. 0, or -errno. A no-op returning 0 in the weak mode. */
int gsc_landlock_enforce(const gsc_lock *l);

#endif
