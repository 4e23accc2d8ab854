/* The namespace pin (issue 8): the manifest records every symlink of the image's trusted
 * directories (gsc.symlinks); at launch, before the app starts, the runtime lists every
 * trusted directory and refuses the launch when the namespace differs from the pin.
 *
 * The same pass opens every trusted directory once (one component at a time, from its
 * parent's descriptor, never following a symlink) and keeps the descriptors: the
 * trusted-file table (ttable.c) opens each trusted file relative to its directory's
 * descriptor, and the Landlock rules (landlock.c) attach to them. No trusted path is
 * looked up from "/" more than once. */
#ifndef GSC_RT_NSCHECK_H
#define GSC_RT_NSCHECK_H

#include <stddef.h>

#include "../core/manifest.h"

enum gsc_nsdir_state {
    GSC_NSDIR_ABSENT = 0,       /* does not exist (or lies under one that does not) */
    GSC_NSDIR_LISTED = 1,       /* opened O_RDONLY|O_DIRECTORY and listed */
    GSC_NSDIR_UNSEARCHABLE = 2, /* exists, our credentials cannot search it (fd: O_PATH),
                                   or lies under such a directory (fd -1) */
};

typedef struct {
    const char *path; /* a prefix of a manifest path (not NUL-terminated): len bytes */
    size_t len;       /* "/" has len 1 */
    size_t parent;    /* index of the parent directory; SIZE_MAX for "/" */
    int fd;           /* see the states; -1 when there is none */
    int state;        /* enum gsc_nsdir_state */
    /* Directory rules (only with gsc.executables in the manifest): */
    int pure;         /* listed, and every entry is a trusted file (DT_REG), a pinned
                         symlink or a trusted directory (DT_UNKNOWN or anything else: 0) */
    size_t nsub;      /* trusted directories among its entries */
    int whole;        /* pure, every such subdirectory whole, and no allowed, read-only,
                         tmpfs or encrypted path at or below it: nothing but trusted files,
                         pinned symlinks and whole directories lies beneath it at launch */
} gsc_nsdir;

typedef struct {
    gsc_nsdir *d;      /* the trusted directories: every strict ancestor of a trusted file
                          (Docker's per-container files excluded) or of a pinned symlink,
                          sorted (strcmp order: a parent before its children), unique */
    size_t n;
    size_t *file_dir;  /* per m->trusted entry: index into d of its directory, SIZE_MAX for
                          Docker's per-container files (never trusted) */
    size_t nlisted;    /* directories listed */
    size_t nwhole;     /* whole directories (see gsc_nsdir.whole) */
} gsc_nswalk;

/* Build the directory list only (no system call): for tests and tools. */
void gsc_nswalk_dirs(const gsc_manifest *m, gsc_nswalk *w);

/* The check. Every trusted directory is opened from its parent's descriptor, one
 * component, without following any symlink (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS,
 * O_NOFOLLOW|O_DIRECTORY) and listed (getdents64). Refused (-1, one line in err naming the
 * path) when: a symlink entry is not pinned; a pinned symlink is missing or has another
 * target; a trusted directory is not a directory or is a symlink (or has one on its
 * way). A trusted directory that does not exist is skipped (its trusted files are then
 * missing, which the open-time policy answers; its pinned symlinks are reported
 * missing). A trusted directory our credentials cannot search is skipped with everything
 * below it (the app, with the same credentials, cannot reach anything there: its trusted
 * files are left missing and its pinned symlinks are not required); one we can search but
 * not list is refused. Regular files and directories a derived image adds are harmless (the
 * policy denies them) and are not reported. Docker's per-container files are never
 * checked (Docker bind-mounts its own over them). On success *w holds the directory
 * descriptors (free with gsc_nswalk_free); on failure *w is freed. */
int gsc_nscheck(const gsc_manifest *m, gsc_nswalk *w, char *err, size_t errlen);

void gsc_nswalk_free(gsc_nswalk *w);

#endif
