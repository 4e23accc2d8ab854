/* The trusted-file table: one entry per sgx.trusted_files entry. Built by the supervisor
 * before the app starts; used to build the Landlock domain (landlock.c), to map a file the
 * app holds back to its manifest entry (dev/ino lookup of verified identities: mmap/exec
 * checks) and by the background verifier.
 *
 * A file gets a per-file Landlock rule, and so is opened at launch (O_PATH, without
 * following any symlink), unless a directory rule covers it (its directory is "whole",
 * nscheck.h) and it is not an executable: those are not opened at launch (dirrule), the
 * verifier opens them beneath their directory's descriptor. Entries whose path does not
 * exist at launch have fd = -1. Identities are recorded as files are verified (the
 * verifier, or any verification of trust.c: opens, execs), so the lookup only ever
 * finds verified identities. */
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
    int fd;                 /* O_PATH, or -1 (missing at launch, or dirrule) */
    int dirrule;            /* covered by a directory rule: not opened at launch */
    dev_t dev;              /* identity at launch (fd >= 0), else the last verified one */
    ino_t ino;
    int executable;         /* gets Landlock EXECUTE: listed in gsc.executables, or (older
                               manifests without it) a regular file with an x bit */
    volatile int state;     /* enum gsc_tt_verify (written by the verifier, read by all) */
} gsc_tt_entry;

typedef struct {
    dev_t dev;
    ino_t ino;
    size_t idx;             /* + 1; 0: empty slot */
} gsc_tt_id;

typedef struct {
    gsc_tt_entry *e;        /* in manifest (path) order, one per trusted file */
    size_t n;
    size_t nid;             /* entries opened at launch */
    size_t ndirrule;        /* entries covered by a directory rule (not opened) */
    const gsc_nswalk *w;    /* the namespace check's directories (kept for the verifier) */
    gsc_tt_id *ids;         /* verified identities: open addressing, under mu */
    size_t cap, nids;
    void *mu;               /* pthread_mutex_t */
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

/* The entry whose content matched under this identity, or NULL (safe against a
 * concurrent gsc_ttable_verified). Its state says whether the verifier is done with it. */
gsc_tt_entry *gsc_ttable_find(const gsc_ttable *t, dev_t dev, ino_t ino);

/* Entry idx matched its hash under this identity (any thread): records the identity for
 * gsc_ttable_find. An entry opened at launch only takes its launch identity (another
 * inode has no Landlock rule: never the app's). With mark (the verifier's own pass, or
 * the mmap check's verification on the spot), also sets it VERIFIED unless it failed;
 * without (trust.c: opens and exec checks for the app), the state is left to the
 * verifier, which hashes every file itself as before. */
void gsc_ttable_verified(gsc_ttable *t, size_t idx, dev_t dev, ino_t ino, int mark);

/* Open entry e for reading (for the verifier): through its launch descriptor, or beneath
 * its directory's descriptor without following any symlink (dirrule). -errno. */
int gsc_ttable_open(const gsc_ttable *t, const gsc_manifest *m, const gsc_tt_entry *e);

void gsc_ttable_free(gsc_ttable *t);

#endif
