#include "nscheck.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
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

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append every strict ancestor of path ("/" included) to *v. */
static void add_ancestors(const char *path, char ***v, size_t *n, size_t *cap)
{
    size_t len = strlen(path);
    for (size_t i = len; i > 0; i--) {
        if (path[i - 1] != '/' || i == len)
            continue;
        size_t dl = i - 1 ? i - 1 : 1; /* "/a/b": "/a" then "/" */
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 256;
            *v = realloc(*v, *cap * sizeof(**v));
            if (!*v)
                rt_refuse("out of memory");
        }
        char *d = rt_xmalloc(dl + 1);
        memcpy(d, path, dl);
        d[dl] = 0;
        (*v)[(*n)++] = d;
    }
}

size_t gsc_trusted_dirs(const gsc_manifest *m, char ***out)
{
    char **v = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < m->ntrusted; i++) {
        const char *p = m->trusted[i].path;
        if (gsc_policy_is_container_file(p))
            continue;
        /* Sorted input: the ancestors of consecutive paths mostly repeat; dedupe later. */
        add_ancestors(p, &v, &n, &cap);
    }
    for (size_t i = 0; i < m->nsymlinks; i++)
        add_ancestors(m->symlinks[i].path, &v, &n, &cap);
    if (n)
        qsort(v, n, sizeof(*v), cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && strcmp(v[k - 1], v[i]) == 0) {
            free(v[i]);
            continue;
        }
        v[k++] = v[i];
    }
    *out = v;
    return k;
}

void gsc_trusted_dirs_free(char **dirs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(dirs[i]);
    free(dirs);
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

/* List one directory (fd) named dir; -1 with err on a refusal. */
static int check_dir(const gsc_manifest *m, int fd, const char *dir, unsigned char *seen,
                     char *err, size_t errlen)
{
    static char buf[1 << 16] __attribute__((aligned(8)));
    char path[PATH_MAX + 1];
    char target[PATH_MAX + 1];
    size_t dl = strcmp(dir, "/") == 0 ? 0 : strlen(dir);
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n < 0) {
            snprintf(err, errlen, "cannot list trusted directory %s: %s", dir, strerror(errno));
            return -1;
        }
        if (n == 0)
            return 0;
        for (long off = 0; off < n;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
            off += d->d_reclen;
            unsigned char type = d->d_type;
            if (type != DT_LNK && type != DT_UNKNOWN)
                continue;
            if (type == DT_UNKNOWN) {
                struct stat st;
                if (fstatat(fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
                    !S_ISLNK(st.st_mode))
                    continue;
            }
            size_t nl = strlen(d->d_name);
            if (dl + 1 + nl > PATH_MAX) {
                snprintf(err, errlen, "symlink in trusted directory %s: name too long", dir);
                return -1;
            }
            memcpy(path, dir, dl);
            path[dl] = '/';
            memcpy(path + dl + 1, d->d_name, nl + 1);
            if (gsc_policy_is_container_file(path))
                continue;
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

int gsc_nscheck(const gsc_manifest *m, size_t *ndirs, char *err, size_t errlen)
{
    char **dirs;
    size_t n = gsc_trusted_dirs(m, &dirs);
    unsigned char *seen = rt_xcalloc(m->nsymlinks ? m->nsymlinks : 1, 1);
    struct open_how how = {
        .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW,
        .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    int r = 0;
    *ndirs = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        long fd = syscall(__NR_openat2, AT_FDCWD, dirs[i], &how, sizeof how);
        if (fd < 0) {
            int e = errno;
            if (e == ENOENT)
                continue;
            if (e == EACCES) {
                /* Not listable with our credentials. If we cannot even search it, neither
                 * can the app (same credentials): nothing below is reachable. */
                struct open_how p = {.flags = O_PATH | O_CLOEXEC | O_NOFOLLOW,
                                     .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
                long pfd = syscall(__NR_openat2, AT_FDCWD, dirs[i], &p, sizeof p);
                int searchable = pfd >= 0 && faccessat((int)pfd, ".", X_OK, 0) == 0;
                if (pfd >= 0)
                    close((int)pfd);
                if (!searchable)
                    continue;
            }
            snprintf(err, errlen, "namespace changed: trusted directory %s: %s", dirs[i],
                     e == ELOOP     ? "a symlink on its path"
                     : e == ENOTDIR ? "not a directory"
                                    : strerror(e));
            r = -1;
            break;
        }
        (*ndirs)++;
        r = check_dir(m, (int)fd, dirs[i], seen, err, errlen);
        close((int)fd);
    }
    for (size_t i = 0; r == 0 && i < m->nsymlinks; i++) {
        if (!seen[i] && !gsc_policy_is_container_file(m->symlinks[i].path)) {
            snprintf(err, errlen, "namespace changed: pinned symlink %s is missing",
                     m->symlinks[i].path);
            r = -1;
        }
    }
    free(seen);
    gsc_trusted_dirs_free(dirs, n);
    return r;
}
