/* The trusted-file table: every sgx.trusted_files entry opened once at launch (O_PATH,
 * without following any symlink on the way), with its identity. Built by the supervisor
 * before the app starts; used to build the Landlock domain (landlock.c), to map a file the
 * app holds back to its manifest entry (dev/ino lookup: mmap/exec checks) and by the
 * background verifier. Entries whose path does not exist at launch have fd = -1. */
#ifndef GSC_RT_TTABLE_H
#define GSC_RT_TTABLE_H

#include <stddef.h>
#include <sys/types.h>

#include "../core/manifest.h"
#include "nscheck.h"

enum { GSC_TT_MISSING = 0, GSC_TT_PRESENT = 1 };

/* UNREADABLE: the supervisor may not read it and the app can never (phase.c); not hashed,
 * not a failure, never treated as verified. */
enum gsc_tt_verify {
    GSC_TT_UNVERIFIED = 0,
    GSC_TT_VERIFIED = 1,
    GSC_TT_FAILED = 2,
    GSC_TT_UNREADABLE = 3
};

typedef struct {
    size_t index;           /* into m->trusted */
    int fd;                 /* O_PATH, or -1 when missing at launch */
    dev_t dev;
    ino_t ino;
    mode_t mode;
    int executable;         /* regular file with an x bit: gets Landlock EXECUTE */
    volatile int state;     /* enum gsc_tt_verify (written by the verifier, read by all) */
} gsc_tt_entry;

typedef struct {
    gsc_tt_entry *e;        /* in manifest (path) order, one per trusted file */
    size_t n;
    size_t *by_id;          /* indices into e, sorted by (dev, ino), present entries only */
    size_t nid;
} gsc_ttable;

/* Called for every present entry as soon as it is filled (possibly from a second thread,
 * never twice for one entry): the Landlock rule. 0, or -errno to refuse the launch. */
typedef int (*gsc_ttable_hook)(void *ctx, const gsc_tt_entry *e);

/* Open and stat every trusted file, each relative to its directory's descriptor from the
 * namespace check (w). Returns 0, or -1 with a one-line reason in err when
 * the namespace under a trusted path is not what the manifest says (a path component is a
 * symlink or not a directory, the entry is not a regular file). A missing file (ENOENT) is
 * not an error here: the open-time policy answers for it. With a large table and a second
 * CPU, a second thread shares the work; a failure reports the first failing entry in
 * manifest order. */
int gsc_ttable_build(const gsc_manifest *m, const gsc_nswalk *w, gsc_ttable *t,
                     gsc_ttable_hook hook, void *ctx, char *err, size_t errlen);

/* The entry whose open file has this identity, or NULL. */
gsc_tt_entry *gsc_ttable_find(const gsc_ttable *t, dev_t dev, ino_t ino);

void gsc_ttable_free(gsc_ttable *t);

#endif
