#include "ttable.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../core/policy.h"
#include "util.h"

#ifndef __NR_openat2
#define __NR_openat2 437
#endif

static const gsc_ttable *sort_table;

static int cmp_id(const void *a, const void *b)
{
    const gsc_tt_entry *x = &sort_table->e[*(const size_t *)a];
    const gsc_tt_entry *y = &sort_table->e[*(const size_t *)b];
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    if (x->ino != y->ino)
        return x->ino < y->ino ? -1 : 1;
    return 0;
}

int gsc_ttable_build(const gsc_manifest *m, gsc_ttable *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    t->n = m->ntrusted;
    t->e = rt_xcalloc(t->n ? t->n : 1, sizeof(*t->e));
    t->by_id = rt_xcalloc(t->n ? t->n : 1, sizeof(*t->by_id));
    struct open_how how = {
        .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
        .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    for (size_t i = 0; i < t->n; i++) {
        gsc_tt_entry *e = &t->e[i];
        e->index = i;
        e->fd = -1;
        const char *path = m->trusted[i].path;
        if (gsc_policy_is_container_file(path))
            continue; /* Docker's own, never trusted: left "missing" (fd -1) */
        long fd = syscall(__NR_openat2, AT_FDCWD, path, &how, sizeof(how));
        if (fd < 0) {
            if (errno == ENOENT)
                continue;
            snprintf(err, errlen, "trusted file %s: %s%s", path, strerror(errno),
                     errno == ELOOP ? " (a symlink on its path: the namespace changed)" : "");
            gsc_ttable_free(t);
            return -1;
        }
        struct stat st;
        if (fstat((int)fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            snprintf(err, errlen, "trusted file %s is not a regular file", path);
            close((int)fd);
            gsc_ttable_free(t);
            return -1;
        }
        e->fd = (int)fd;
        e->dev = st.st_dev;
        e->ino = st.st_ino;
        e->mode = st.st_mode;
        e->executable = (st.st_mode & 0111) != 0;
        t->by_id[t->nid++] = i;
    }
    sort_table = t;
    qsort(t->by_id, t->nid, sizeof(*t->by_id), cmp_id);
    sort_table = NULL;
    return 0;
}

gsc_tt_entry *gsc_ttable_find(const gsc_ttable *t, dev_t dev, ino_t ino)
{
    size_t lo = 0, hi = t->nid;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        gsc_tt_entry *e = &t->e[t->by_id[mid]];
        if (e->dev == dev && e->ino == ino)
            return e;
        if (e->dev < dev || (e->dev == dev && e->ino < ino))
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void gsc_ttable_free(gsc_ttable *t)
{
    if (t->e)
        for (size_t i = 0; i < t->n; i++)
            if (t->e[i].fd >= 0)
                close(t->e[i].fd);
    free(t->e);
    free(t->by_id);
    memset(t, 0, sizeof(*t));
}
