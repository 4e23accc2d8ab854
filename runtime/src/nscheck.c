#include "nscheck.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
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
#include "log.h"
#include "util.h"

#ifndef __NR_openat2
#define __NR_openat2 437
#endif

/* ---- the directory list ------------------------------------------------------------ */

typedef struct {
    const char *s;
    size_t len;
} span;

static int span_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int r = memcmp(a, b, al < bl ? al : bl);
    if (r)
        return r;
    return al < bl ? -1 : al > bl; /* a strict prefix sorts first, as with strcmp */
}

static int cmp_dir(const void *x, const void *y)
{
    const gsc_nsdir *a = x, *b = y;
    return span_cmp(a->path, a->len, b->path, b->len);
}

/* Length of the parent of the span path[0..len) ("/a" -> "/" (1), "/a/b" -> "/a"). */
static size_t parent_len(const char *path, size_t len)
{
    size_t i = len;
    while (i > 0 && path[i - 1] != '/')
        i--;
    return i > 1 ? i - 1 : 1;
}

typedef struct {
    span *slot;   /* open addressing; s == NULL: empty */
    size_t cap;   /* power of two */
    size_t n;
} dirset;

static uint64_t span_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static void dirset_grow(dirset *ds)
{
    size_t cap = ds->cap ? ds->cap * 2 : 1024;
    span *slot = rt_xcalloc(cap, sizeof(*slot));
    for (size_t i = 0; i < ds->cap; i++) {
        if (!ds->slot[i].s)
            continue;
        size_t j = span_hash(ds->slot[i].s, ds->slot[i].len) & (cap - 1);
        while (slot[j].s)
            j = (j + 1) & (cap - 1);
        slot[j] = ds->slot[i];
    }
    free(ds->slot);
    ds->slot = slot;
    ds->cap = cap;
}

/* Insert the span; 1 when it was new. */
static int dirset_add(dirset *ds, const char *s, size_t len)
{
    if (2 * (ds->n + 1) > ds->cap)
        dirset_grow(ds);
    size_t j = span_hash(s, len) & (ds->cap - 1);
    while (ds->slot[j].s) {
        if (ds->slot[j].len == len && memcmp(ds->slot[j].s, s, len) == 0)
            return 0;
        j = (j + 1) & (ds->cap - 1);
    }
    ds->slot[j].s = s;
    ds->slot[j].len = len;
    ds->n++;
    return 1;
}

/* Every strict ancestor of the normalised absolute path (stops at the first one already
 * known: its ancestors are known too). */
static void add_ancestors(dirset *ds, const char *path)
{
    size_t len = strlen(path);
    while (len > 1) {
        len = parent_len(path, len);
        if (!dirset_add(ds, path, len))
            return;
    }
}

static size_t find_dir(const gsc_nswalk *w, const char *s, size_t len)
{
    size_t lo = 0, hi = w->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = span_cmp(w->d[mid].path, w->d[mid].len, s, len);
        if (r == 0)
            return mid;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return SIZE_MAX;
}

void gsc_nswalk_dirs(const gsc_manifest *m, gsc_nswalk *w)
{
    memset(w, 0, sizeof(*w));
    dirset ds = {0};
    const char *last = NULL;
    size_t lastlen = 0;
    for (size_t i = 0; i < m->ntrusted; i++) {
        const char *p = m->trusted[i].path;
        if (gsc_policy_is_container_file(p))
            continue;
        /* Sorted input: consecutive files mostly share their directory. */
        size_t pl = parent_len(p, strlen(p));
        if (last && pl == lastlen && memcmp(p, last, pl) == 0)
            continue;
        last = p;
        lastlen = pl;
        add_ancestors(&ds, p);
    }
    for (size_t i = 0; i < m->nsymlinks; i++)
        add_ancestors(&ds, m->symlinks[i].path);
    w->d = rt_xcalloc(ds.n ? ds.n : 1, sizeof(*w->d));
    for (size_t i = 0; i < ds.cap; i++) {
        if (!ds.slot[i].s)
            continue;
        gsc_nsdir *d = &w->d[w->n++];
        d->path = ds.slot[i].s;
        d->len = ds.slot[i].len;
        d->fd = -1;
    }
    free(ds.slot);
    if (w->n)
        qsort(w->d, w->n, sizeof(*w->d), cmp_dir);
    for (size_t i = 0; i < w->n; i++) {
        gsc_nsdir *d = &w->d[i];
        d->parent = d->len == 1 ? SIZE_MAX : find_dir(w, d->path, parent_len(d->path, d->len));
    }
    w->file_dir = rt_xcalloc(m->ntrusted ? m->ntrusted : 1, sizeof(*w->file_dir));
    for (size_t i = 0; i < m->ntrusted; i++) {
        const char *p = m->trusted[i].path;
        w->file_dir[i] = gsc_policy_is_container_file(p)
                             ? SIZE_MAX
                             : find_dir(w, p, parent_len(p, strlen(p)));
    }
}

void gsc_nswalk_free(gsc_nswalk *w)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->d[i].fd >= 0)
            close(w->d[i].fd);
    free(w->d);
    free(w->file_dir);
    memset(w, 0, sizeof(*w));
}

static long find_symlink(const gsc_manifest *m, const char *path)
{
    size_t lo = 0, hi = m->nsymlinks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(m->symlinks[mid].path, path);
        if (r == 0)
            return (long)mid;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static int cmp_trusted_key(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const gsc_trusted_file *)elem)->path);
}

static int is_trusted_file(const gsc_manifest *m, const char *path)
{
    return m->ntrusted &&
           bsearch(path, m->trusted, m->ntrusted, sizeof *m->trusted, cmp_trusted_key);
}

/* List directory di (its fd; path dir[0..dl)); -1 with err on a refusal. With
 * gsc.executables, also decides whether its listing is "pure" (nscheck.h). */
#define LIST_BUF (1 << 16)

static int check_dir(const gsc_manifest *m, gsc_nswalk *w, size_t di, int fd, const char *dir,
                     size_t dl, unsigned char *seen, char *buf, char *err, size_t errlen)
{
    int classify = m->has_executables;
    int pure = classify;
    size_t nsub = 0;
    char path[PATH_MAX + 1];
    char target[PATH_MAX + 1];
    const int dlen = (int)dl;
    if (dl == 1)
        dl = 0; /* "/": names are joined as "/name" */
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, LIST_BUF);
        if (n < 0) {
            snprintf(err, errlen, "cannot list trusted directory %.*s: %s", dlen, dir,
                     strerror(errno));
            return -1;
        }
        if (n == 0) {
            w->d[di].pure = pure;
            w->d[di].nsub = nsub;
            return 0;
        }
        for (long off = 0; off < n;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
            off += d->d_reclen;
            unsigned char type = d->d_type;
            if (type != DT_LNK && type != DT_UNKNOWN) {
                if (!pure || (d->d_name[0] == '.' && (!d->d_name[1] ||
                                                      (d->d_name[1] == '.' && !d->d_name[2]))))
                    continue;
                size_t nl = strlen(d->d_name);
                if (type != DT_REG && type != DT_DIR) {
                    pure = 0;
                } else if (dl + 1 + nl > PATH_MAX) {
                    pure = 0;
                } else {
                    memcpy(path, dir, dl);
                    path[dl] = '/';
                    memcpy(path + dl + 1, d->d_name, nl + 1);
                    if (type == DT_REG)
                        pure = !gsc_policy_is_container_file(path) && is_trusted_file(m, path);
                    else if (find_dir(w, path, dl + 1 + nl) == SIZE_MAX)
                        pure = 0;
                    else
                        nsub++;
                }
                continue;
            }
            if (type == DT_UNKNOWN) {
                pure = 0; /* the type is not known without a stat: per-file rules */
                struct stat st;
                if (fstatat(fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
                    !S_ISLNK(st.st_mode))
                    continue;
            }
            size_t nl = strlen(d->d_name);
            if (dl + 1 + nl > PATH_MAX) {
                snprintf(err, errlen, "symlink in trusted directory %.*s: name too long", dlen,
                         dir);
                return -1;
            }
            memcpy(path, dir, dl);
            path[dl] = '/';
            memcpy(path + dl + 1, d->d_name, nl + 1);
            if (gsc_policy_is_container_file(path)) {
                pure = 0;
                continue;
            }
            long i = find_symlink(m, path);
            if (i < 0) {
                snprintf(err, errlen, "namespace changed: %s is a symlink the manifest does "
                         "not pin", path);
                return -1;
            }
            ssize_t tl = readlinkat(fd, d->d_name, target, sizeof target - 1);
            if (tl < 0 || strlen(m->symlinks[i].target) != (size_t)tl ||
                memcmp(m->symlinks[i].target, target, (size_t)tl) != 0) {
                snprintf(err, errlen, "namespace changed: symlink %s does not point where the "
                         "manifest pins it", path);
                return -1;
            }
            seen[i] = 1;
        }
    }
}

/* Open one component (name, NUL-terminated) beneath the directory fd: no symlink, no
 * "..", no magic link, whatever the name holds. */
static long open_beneath(int dirfd, const char *name, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    return syscall(__NR_openat2, dirfd, name, &how, sizeof how);
}

static long open_root(int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
        .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    return syscall(__NR_openat2, AT_FDCWD, "/", &how, sizeof how);
}

/* Open directory i from its parent's descriptor ("/" from the root). Sets fd and state;
 * -1 with err on a refusal. */
static int open_dir(gsc_nswalk *w, size_t i, char *err, size_t errlen)
{
    gsc_nsdir *d = &w->d[i];
    int pfd;
    char name[NAME_MAX + 1];
    if (d->len == 1) {
        pfd = AT_FDCWD;
        name[0] = 0;
    } else {
        const gsc_nsdir *p = &w->d[d->parent];
        if (p->state != GSC_NSDIR_LISTED) {
            /* Absent below absent; unreachable below unsearchable (the app has our
             * credentials: it cannot reach anything below either). */
            d->state = p->state;
            return 0;
        }
        pfd = p->fd;
        size_t pl = p->len == 1 ? 1 : p->len + 1;
        size_t nl = d->len - pl;
        if (nl > NAME_MAX) {
            snprintf(err, errlen, "namespace changed: trusted directory %.*s: %s", (int)d->len,
                     d->path, strerror(ENAMETOOLONG));
            return -1;
        }
        memcpy(name, d->path + pl, nl);
        name[nl] = 0;
    }
    long fd = d->len == 1 ? open_root(O_RDONLY | O_DIRECTORY)
                          : open_beneath(pfd, name, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        d->fd = (int)fd;
        d->state = GSC_NSDIR_LISTED;
        return 0;
    }
    int e = errno;
    if (e == ENOENT) {
        d->state = GSC_NSDIR_ABSENT;
        return 0;
    }
    if (e == EACCES) {
        /* Not listable with our credentials. If we cannot even search it, neither can the
         * app (same credentials): nothing below is reachable. */
        long qfd = d->len == 1 ? open_root(O_PATH) : open_beneath(pfd, name, O_PATH);
        int searchable = qfd >= 0 && faccessat((int)qfd, ".", X_OK, 0) == 0;
        if (qfd >= 0 && !searchable) {
            d->fd = (int)qfd; /* kept for its Landlock rule (listing) */
            d->state = GSC_NSDIR_UNSEARCHABLE;
            return 0;
        }
        if (qfd >= 0)
            close((int)qfd);
    }
    snprintf(err, errlen, "namespace changed: trusted directory %.*s: %s", (int)d->len,
             d->path,
             e == ELOOP     ? "a symlink on its path"
             : e == ENOTDIR ? "not a directory"
                            : strerror(e));
    return -1;
}

/* No directory rule at or above a path the manifest makes readable or writable for other
 * reasons (allowed, read-only, tmpfs, encrypted): its own rules decide there, and a file
 * that appears there during the run must not become readable through a directory rule. */
static void block_ancestors(gsc_nswalk *w, const char *path, unsigned char *blocked)
{
    size_t len = strlen(path);
    for (;;) {
        size_t i = find_dir(w, path, len);
        if (i != SIZE_MAX)
            blocked[i] = 1;
        if (len <= 1)
            return;
        len = parent_len(path, len);
    }
}

/* whole = pure, and every trusted subdirectory listed is whole (children sort after their
 * parent: one pass from the end). */
static void mark_whole(const gsc_manifest *m, gsc_nswalk *w)
{
    unsigned char *blocked = rt_xcalloc(w->n ? w->n : 1, 1);
    size_t *nwhole_sub = rt_xcalloc(w->n ? w->n : 1, sizeof *nwhole_sub);
    for (size_t i = 0; i < m->nallowed; i++)
        block_ancestors(w, m->allowed[i], blocked);
    for (size_t i = 0; i < m->nreadonly; i++)
        block_ancestors(w, m->readonly[i], blocked);
    for (size_t i = 0; i < m->ntmpfs; i++)
        block_ancestors(w, m->tmpfs[i], blocked);
    for (size_t i = 0; i < m->nencrypted; i++)
        block_ancestors(w, m->encrypted[i].path, blocked);
    for (size_t i = w->n; i-- > 0;) {
        gsc_nsdir *d = &w->d[i];
        d->whole = d->state == GSC_NSDIR_LISTED && d->fd >= 0 && d->pure && !blocked[i] &&
                   nwhole_sub[i] == d->nsub;
        if (d->whole) {
            w->nwhole++;
            if (d->parent != SIZE_MAX)
                nwhole_sub[d->parent]++;
        }
    }
    free(blocked);
    free(nwhole_sub);
}

/* ---- the parallel walk ---------------------------------------------------------------
 *
 * Workers take directories in sorted order from one counter (a parent sorts before its
 * children, so it is always taken first); a directory is opened from its parent's
 * descriptor as soon as that one is open (ready[] below: 0 until open_dir of the parent
 * has set its state and descriptor), then listed. On a cold overlay mount the open and the
 * listing wait on the lower layers (lookups, directory blocks read from disk), so more
 * workers than CPUs help: a refusal still names the first failing directory in sorted
 * order, as one thread would (every directory before it is checked). */
#define NS_THREADS 3

typedef struct {
    const gsc_manifest *m;
    gsc_nswalk *w;
    unsigned char *seen;
    _Atomic uint32_t *ready;   /* per directory: 1 once open_dir is done (futex word) */
    atomic_size_t next;        /* next directory to take */
    atomic_size_t first_bad;   /* lowest refused directory (SIZE_MAX: none) */
    pthread_mutex_t mu;
    char err[PATH_MAX + 256];   /* the refusal of first_bad */
} ns_walk;

static void ns_fail(ns_walk *s, size_t i, const char *msg)
{
    pthread_mutex_lock(&s->mu);
    if (i < atomic_load(&s->first_bad)) {
        atomic_store(&s->first_bad, i);
        snprintf(s->err, sizeof s->err, "%s", msg);
    }
    pthread_mutex_unlock(&s->mu);
}

static void ns_set_ready(ns_walk *s, size_t i)
{
    atomic_store_explicit(&s->ready[i], 1, memory_order_release);
    syscall(SYS_futex, (uint32_t *)&s->ready[i], FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL,
            0);
}

static void ns_wait_ready(ns_walk *s, size_t i)
{
    while (!atomic_load_explicit(&s->ready[i], memory_order_acquire))
        syscall(SYS_futex, (uint32_t *)&s->ready[i], FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
}

static void *ns_worker(void *arg)
{
    ns_walk *s = arg;
    gsc_nswalk *w = s->w;
    char *buf = rt_xmalloc(LIST_BUF);
    char err[PATH_MAX + 256];
    for (;;) {
        size_t i = atomic_fetch_add(&s->next, 1);
        if (i >= w->n)
            break;
        gsc_nsdir *d = &w->d[i];
        /* Past a refusal nothing matters but waking whoever waits for this one. */
        int r = 0;
        if (i > atomic_load(&s->first_bad)) {
            ns_set_ready(s, i);
            continue;
        }
        if (d->parent != SIZE_MAX)
            ns_wait_ready(s, d->parent);
        err[0] = 0;
        if (d->parent != SIZE_MAX && atomic_load(&s->first_bad) <= d->parent)
            r = 0; /* its parent was refused: nothing to open it from (state stays absent) */
        else
            r = open_dir(w, i, err, sizeof err);
        ns_set_ready(s, i);
        if (r == 0 && d->state == GSC_NSDIR_LISTED)
            r = check_dir(s->m, w, i, d->fd, d->path, d->len, s->seen, buf, err, sizeof err);
        if (r < 0)
            ns_fail(s, i, err);
    }
    free(buf);
    return NULL;
}

int gsc_nscheck(const gsc_manifest *m, gsc_nswalk *w, char *err, size_t errlen)
{
    gsc_nswalk_dirs(m, w);
    unsigned char *seen = rt_xcalloc(m->nsymlinks ? m->nsymlinks : 1, 1);
    ns_walk *s = rt_xcalloc(1, sizeof *s);
    s->m = m;
    s->w = w;
    s->seen = seen;
    s->ready = rt_xcalloc(w->n ? w->n : 1, sizeof *s->ready);
    atomic_init(&s->next, 0);
    atomic_init(&s->first_bad, SIZE_MAX);
    pthread_mutex_init(&s->mu, NULL);
    pthread_t th[NS_THREADS - 1];
    int nth = 0;
    /* Helpers only for a walk worth it; the listing waits on I/O as much as it computes,
     * so they are started whatever the number of CPUs. */
    if (w->n >= 32)
        while (nth < NS_THREADS - 1 && pthread_create(&th[nth], NULL, ns_worker, s) == 0)
            nth++;
    ns_worker(s);
    for (int k = 0; k < nth; k++)
        pthread_join(th[k], NULL);
    pthread_mutex_destroy(&s->mu);
    int r = 0;
    if (atomic_load(&s->first_bad) != SIZE_MAX) {
        snprintf(err, errlen, "%s", s->err);
        r = -1;
    }
    free(s->ready);
    free(s);
    for (size_t i = 0; i < w->n; i++)
        w->nlisted += w->d[i].state == GSC_NSDIR_LISTED;
    for (size_t i = 0; r == 0 && i < m->nsymlinks; i++) {
        const char *sp = m->symlinks[i].path;
        size_t di = find_dir(w, sp, parent_len(sp, strlen(sp)));
        if (di != SIZE_MAX && w->d[di].state == GSC_NSDIR_UNSEARCHABLE)
            continue; /* not listed: unreachable for the app too */
        if (!seen[i] && !gsc_policy_is_container_file(m->symlinks[i].path)) {
            snprintf(err, errlen, "namespace changed: pinned symlink %s is missing",
                     m->symlinks[i].path);
            r = -1;
        }
    }
    free(seen);
    if (r < 0) {
        gsc_nswalk_free(w);
        return r;
    }
    if (m->has_executables)
        mark_whole(m, w);
    return 0;
}
