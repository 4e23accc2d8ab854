/* The namespace pin (issue 8): the manifest records every symlink of the image's trusted
 * directories (gsc.symlinks); at launch, before the app starts, the runtime lists every
 * trusted directory and refuses the launch when the namespace differs from the pin. */
#ifndef GSC_RT_NSCHECK_H
#define GSC_RT_NSCHECK_H

#include <stddef.h>

#include "../core/manifest.h"

/* The trusted directories: every strict ancestor of a trusted file (Docker's
 * per-container files excluded) or of a pinned symlink, sorted (strcmp), unique, "/"
 * first. Returns the count; *out is malloc'd (free with gsc_trusted_dirs_free). */
size_t gsc_trusted_dirs(const gsc_manifest *m, char ***out);
void gsc_trusted_dirs_free(char **dirs, size_t n);

/* The check. Every trusted directory is opened from "/" without following any symlink
 * (openat2 RESOLVE_NO_SYMLINKS) and listed (getdents64). Refused (-1, one line in err
 * naming the path) when: a symlink entry is not pinned; a pinned symlink is missing or
 * has another target; a trusted directory is not a directory or has a symlink on its
 * way. A trusted directory that does not exist is skipped (its trusted files are then
 * missing, which the open-time policy answers; its pinned symlinks are reported
 * missing). Regular files and directories a derived image adds are harmless (the policy
 * denies them) and are not reported. Docker's per-container files are never checked
 * (Docker bind-mounts its own over them). *ndirs gets the number of directories listed. */
int gsc_nscheck(const gsc_manifest *m, size_t *ndirs, char *err, size_t errlen);

#endif
