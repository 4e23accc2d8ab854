#include "ttable.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../core/policy.h"
#include "nscheck.h"
#include "util.h"

#ifndef __NR_openat2
#define __NR_openat2 437
#endif

/* Not an errno value: "exists but is not a regular file". */
#define EFTYPE_NOT_REGULAR 4095

/* Fill one entry. 0, or -errno (ENOTDIR-like refusals use their own codes): the caller
 * formats the line. A missing file (ENOENT, or its directory absent) leaves fd -1. */
static int fill_entry(const gsc_manifest *m, const gsc_nswalk *w, gsc_tt_entry *e, size_t i)
{
    /* One component beneath the directory's descriptor (opened by the namespace check
     * without following any symlink): no symlink, no "..", no magic link. */
    static const struct open_how how = {
        .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    e->index = i;
    e->fd = -1;
    size_t di = w->file_dir[i];
    if (di == SIZE_MAX)
        return 0; /* Docker's own, never trusted: left "missing" (fd -1) */
    const gsc_nsdir *d = &w->d[di];
    if (m->has_executables && d->whole && !e->executable) {
        /* Its directory's rule covers it (the listing proved nothing else is there and
         * nothing can be created there): no open, no rule; the verifier opens it. */
        e->dirrule = 1;
        return 0;
    }
    /* Absent, or below a directory our credentials cannot search: the app, with the same
     * credentials (no_new_privs: it cannot gain others), cannot reach it either. Left
     * "missing" (no descriptor, no Landlock rule), as the namespace rule says. */
    if (d->state != GSC_NSDIR_LISTED)
        return 0;
    const char *path = m->trusted[i].path;
    struct open_how h = how;
    long fd = syscall(__NR_openat2, d->fd, strrchr(path, '/') + 1, &h, sizeof(h));
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    struct stat st;
    if (fstat((int)fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close((int)fd);
        return -EFTYPE_NOT_REGULAR;
    }
    e->fd = (int)fd;
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    if (!m->has_executables)
        e->executable = (st.st_mode & 0111) != 0; /* an older manifest: as before */
    return 0;
}

typedef struct {
    const gsc_manifest *m;
    const gsc_nswalk *w;
    gsc_ttable *t;
    gsc_ttable_hook hook;
    void *ctx;
    atomic_size_t next;      /* next chunk to take */
    atomic_size_t first_bad; /* lowest failing index (SIZE_MAX: none) */
    int err;                 /* -errno of entry first_bad */
    int from_hook;           /* that failure came from the hook */
    pthread_mutex_t mu;
} build_state;

#define CHUNK 64

static void note_failure(build_state *b, size_t i, int err, int from_hook)
{
    pthread_mutex_lock(&b->mu);
    if (i < atomic_load(&b->first_bad)) {
        atomic_store(&b->first_bad, i);
        b->err = err;
        b->from_hook = from_hook;
    }
    pthread_mutex_unlock(&b->mu);
}

static void *build_worker(void *arg)
{
    build_state *b = arg;
    for (;;) {
        size_t lo = atomic_fetch_add(&b->next, CHUNK);
        if (lo >= b->t->n || lo > atomic_load(&b->first_bad))
            return NULL;
        size_t hi = lo + CHUNK < b->t->n ? lo + CHUNK : b->t->n;
        for (size_t i = lo; i < hi; i++) {
            gsc_tt_entry *e = &b->t->e[i];
            int r = fill_entry(b->m, b->w, e, i);
            if (r < 0) {
                note_failure(b, i, r, 0);
                return NULL;
            }
            if (e->fd >= 0 && b->hook && (r = b->hook(b->ctx, e)) < 0) {
                note_failure(b, i, r, 1);
                return NULL;
            }
        }
    }
}

/* Worth a second thread only for a large table, and only with a second CPU to run on. */
static int want_thread(size_t n)
{
    if (n < 4 * CHUNK)
        return 0;
    cpu_set_t set;
    return sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 1;
}

int gsc_ttable_build(const gsc_manifest *m, const gsc_nswalk *w, gsc_ttable *t,
                     gsc_ttable_hook hook, void *ctx, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    t->n = m->ntrusted;
    t->e = rt_xcalloc(t->n ? t->n : 1, sizeof(*t->e));
    for (size_t i = 0; i < t->n; i++)
        t->e[i].fd = -1;
    /* gsc.executables and sgx.trusted_files are both sorted: one merge */
    for (size_t i = 0, j = 0; i < m->nexecutables; i++) {
        while (j < t->n && strcmp(m->trusted[j].path, m->executables[i]) < 0)
            j++;
        if (j < t->n && strcmp(m->trusted[j].path, m->executables[i]) == 0)
            t->e[j].executable = 1;
    }
    t->w = w;
    t->cap = 64;
    while (t->cap < 4 * t->n)
        t->cap *= 2;
    t->ids = rt_xcalloc(t->cap, sizeof(*t->ids));
    pthread_mutex_t *mu = rt_xmalloc(sizeof(*mu));
    pthread_mutex_init(mu, NULL);
    t->mu = mu;
    build_state b = {.m = m, .w = w, .t = t, .hook = hook, .ctx = ctx};
    atomic_init(&b.next, 0);
    atomic_init(&b.first_bad, SIZE_MAX);
    pthread_mutex_init(&b.mu, NULL);
    pthread_t th;
    /* Two threads take chunks of entries from one counter (open + fstat + the hook, i.e.
     * the Landlock rule, are system calls that run in parallel); without a thread, this
     * one does it all. */
    int threaded = want_thread(t->n) && pthread_create(&th, NULL, build_worker, &b) == 0;
    build_worker(&b);
    if (threaded)
        pthread_join(th, NULL);
    pthread_mutex_destroy(&b.mu);
    size_t bad = atomic_load(&b.first_bad);
    if (bad != SIZE_MAX) {
        const char *path = m->trusted[bad].path;
        int e = -b.err;
        if (b.from_hook)
            snprintf(err, errlen, "Landlock rule for trusted file %s: %s", path, strerror(e));
        else if (e == EFTYPE_NOT_REGULAR)
            snprintf(err, errlen, "trusted file %s is not a regular file", path);
        else
            snprintf(err, errlen, "trusted file %s: %s%s", path, strerror(e),
                     e == ELOOP ? " (a symlink on its path: the namespace changed)" : "");
        gsc_ttable_free(t);
        return -1;
    }
    for (size_t i = 0; i < t->n; i++) {
        t->nid += t->e[i].fd >= 0;
        t->ndirrule += t->e[i].dirrule;
    }
    return 0;
}

static size_t id_slot(const gsc_ttable *t, dev_t dev, ino_t ino)
{
    uint64_t h = ((uint64_t)dev * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)ino * 0xC2B2AE3D27D4EB4FULL);
    return (size_t)(h ^ (h >> 29)) & (t->cap - 1);
}

gsc_tt_entry *gsc_ttable_find(const gsc_ttable *t, dev_t dev, ino_t ino)
{
    if (!t->ids)
        return NULL;
    gsc_tt_entry *out = NULL;
    pthread_mutex_lock(t->mu);
    for (size_t j = id_slot(t, dev, ino); t->ids[j].idx; j = (j + 1) & (t->cap - 1))
        if (t->ids[j].dev == dev && t->ids[j].ino == ino) {
            out = &t->e[t->ids[j].idx - 1];
            break;
        }
    pthread_mutex_unlock(t->mu);
    return out;
}

void gsc_ttable_verified(gsc_ttable *t, size_t idx, dev_t dev, ino_t ino, int mark)
{
    if (!t->ids || idx >= t->n)
        return;
    gsc_tt_entry *e = &t->e[idx];
    pthread_mutex_lock(t->mu);
    if (e->state == GSC_TT_FAILED || (e->fd >= 0 && (e->dev != dev || e->ino != ino))) {
        pthread_mutex_unlock(t->mu);
        return;
    }
    size_t j = id_slot(t, dev, ino);
    for (; t->ids[j].idx; j = (j + 1) & (t->cap - 1))
        if (t->ids[j].dev == dev && t->ids[j].ino == ino)
            break;
    /* A new identity while the table is at most half full (a file replaced many times
     * from outside could fill it: then it is not recorded, and mapping it is refused). */
    if (!t->ids[j].idx && 2 * (t->nids + 1) <= t->cap) {
        t->ids[j] = (gsc_tt_id){.dev = dev, .ino = ino, .idx = idx + 1};
        t->nids++;
    }
    if (t->ids[j].idx == idx + 1) {
        e->dev = dev;
        e->ino = ino;
        if (mark)
            e->state = GSC_TT_VERIFIED;
    }
    pthread_mutex_unlock(t->mu);
}

int gsc_ttable_open(const gsc_ttable *t, const gsc_manifest *m, const gsc_tt_entry *e)
{
    static const int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    if (e->fd >= 0) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/self/fd/%d", e->fd);
        int fd = open(p, flags);
        return fd < 0 ? -errno : fd;
    }
    if (!e->dirrule)
        return -ENOENT;
    const gsc_nsdir *d = &t->w->d[t->w->file_dir[e->index]];
    struct open_how how = {
        .flags = flags | O_NOFOLLOW,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(__NR_openat2, d->fd, strrchr(m->trusted[e->index].path, '/') + 1, &how,
                      sizeof(how));
    return fd < 0 ? -errno : (int)fd;
}

void gsc_ttable_free(gsc_ttable *t)
{
    if (t->e)
        for (size_t i = 0; i < t->n; i++)
            if (t->e[i].fd >= 0)
                close(t->e[i].fd);
    free(t->e);
    free(t->ids);
    if (t->mu) {
        pthread_mutex_destroy(t->mu);
        free(t->mu);
    }
    memset(t, 0, sizeof(*t));
}
