/* Path policy: classify one normalised absolute path against a parsed manifest.
 *
 * m->trusted, m->allowed, m->readonly and m->tmpfs are sorted bytewise (strcmp) and unique, so every
 * question is a binary search: exact trusted match; allowed = the path or one of its
 * ancestors is an allowed entry (component-wise, so "/tmpx" is not under "/tmp");
 * trusted directory = some trusted path starts with path + "/". */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "policy.h"
#include "coreutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_BUF (GSC_MANIFEST_MAX_PATH + 2)

/* Absolute, no empty / "." / ".." segments, no trailing '/', fits the limit. */
static int is_normal(const char *p, size_t *lenp)
{
    size_t len = strnlen(p, GSC_MANIFEST_MAX_PATH + 1);
    *lenp = len;
    return gsc_path_is_normal(p, len, GSC_MANIFEST_MAX_PATH);
}

/* Index of the first string in arr[0..n) that is >= key (n if none). */
static size_t lower_bound_str(char *const *arr, size_t n, const char *key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(arr[mid], key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static size_t lower_bound_trusted(const gsc_trusted_file *arr, size_t n, const char *key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(arr[mid].path, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int contains(char *const *arr, size_t n, const char *key)
{
    size_t i = lower_bound_str(arr, n, key);
    return i < n && strcmp(arr[i], key) == 0;
}

/* Is path (length len, normal) equal to or under an entry of arr? Tries the path and each
 * of its ancestors up to "/". */
static int under_any(char *const *arr, size_t n, const char *path, size_t len)
{
    if (!n)
        return 0;
    char buf[PATH_BUF];
    memcpy(buf, path, len + 1);
    for (;;) {
        if (contains(arr, n, buf))
            return 1;
        if (len == 1)
            return 0;
        while (len > 0 && buf[len - 1] != '/')
            len--;
        /* buf[len - 1] is the '/' before the last segment */
        if (len <= 1) {
            buf[0] = '/';
            buf[1] = '\0';
            len = 1;
        } else {
            len--;
            buf[len] = '\0';
        }
    }
}

static size_t lower_bound_symlink(const gsc_symlink *arr, size_t n, const char *key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(arr[mid].path, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Docker bind-mounts its own copies over these at run time (--dns, --hostname,
 * --add-host): their content is the operator's, never the image's. */
static const char *const CONTAINER_FILES[] = { "/etc/hostname", "/etc/hosts",
                                               "/etc/resolv.conf" };

int gsc_policy_is_container_file(const char *path)
{
    if (!path)
        return 0;
    for (size_t i = 0; i < sizeof CONTAINER_FILES / sizeof CONTAINER_FILES[0]; i++)
        if (strcmp(path, CONTAINER_FILES[i]) == 0)
            return 1;
    return 0;
}

/* Some trusted path starts with path + "/" (for "/": any trusted path at all). */
static int has_trusted_below(const gsc_manifest *m, const char *path, size_t len)
{
    if (!m->ntrusted)
        return 0;
    if (len == 1)
        return 1;
    char buf[PATH_BUF];
    memcpy(buf, path, len);
    buf[len] = '/';
    buf[len + 1] = '\0';
    size_t i = lower_bound_trusted(m->trusted, m->ntrusted, buf);
    return i < m->ntrusted && strncmp(m->trusted[i].path, buf, len + 1) == 0;
}

/* Same for the pinned symlinks. */
static int has_symlink_below(const gsc_manifest *m, const char *path, size_t len)
{
    if (!m->nsymlinks)
        return 0;
    if (len == 1)
        return 1;
    char buf[PATH_BUF];
    memcpy(buf, path, len);
    buf[len] = '/';
    buf[len + 1] = '\0';
    size_t i = lower_bound_symlink(m->symlinks, m->nsymlinks, buf);
    return i < m->nsymlinks && strncmp(m->symlinks[i].path, buf, len + 1) == 0;
}

/* A trusted directory: a strict ancestor of a trusted file or of a pinned symlink. */
static int is_trusted_dir(const gsc_manifest *m, const char *path, size_t len)
{
    return has_trusted_below(m, path, len) || has_symlink_below(m, path, len);
}

static const gsc_trusted_file *find_trusted(const gsc_manifest *m, const char *path)
{
    size_t i = lower_bound_trusted(m->trusted, m->ntrusted, path);
    if (i < m->ntrusted && strcmp(m->trusted[i].path, path) == 0)
        return &m->trusted[i];
    return NULL;
}

enum gsc_policy_class gsc_policy_classify(const gsc_manifest *m, const char *path,
                                          const gsc_trusted_file **trusted)
{
    size_t len;
    if (trusted)
        *trusted = NULL;
    if (!m || !path || !is_normal(path, &len))
        return GSC_PATH_DENIED;
    if (gsc_policy_is_container_file(path))
        return GSC_PATH_ALLOWED_RO;
    const gsc_trusted_file *t = find_trusted(m, path);
    if (t) {
        if (trusted)
            *trusted = t;
        return GSC_PATH_TRUSTED;
    }
    if (under_any(m->allowed, m->nallowed, path, len) || under_any(m->tmpfs, m->ntmpfs, path, len))
        return GSC_PATH_ALLOWED;
    if (under_any(m->readonly, m->nreadonly, path, len))
        return GSC_PATH_ALLOWED_RO;
    if (is_trusted_dir(m, path, len))
        return GSC_PATH_TRUSTED_DIR;
    return GSC_PATH_DENIED;
}

int gsc_policy_has_trusted_under(const gsc_manifest *m, const char *path)
{
    size_t len;
    if (!m || !path || !is_normal(path, &len))
        return 1; /* fail closed: treat as protected */
    if (find_trusted(m, path) != NULL || is_trusted_dir(m, path, len))
        return 1;
    size_t i = lower_bound_symlink(m->symlinks, m->nsymlinks, path);
    return i < m->nsymlinks && strcmp(m->symlinks[i].path, path) == 0;
}

/* Is path equal to or under an entry of arr[0..n)? *which gets the nearest such entry. */
static int under_which(char *const *arr, size_t n, const char *path, const char **which)
{
    size_t len;
    if (!is_normal(path, &len) || !under_any(arr, n, path, len))
        return 0;
    /* find the entry for the message: the longest ancestor-or-self in arr */
    char buf[PATH_BUF];
    memcpy(buf, path, len + 1);
    for (;;) {
        size_t i = lower_bound_str(arr, n, buf);
        if (i < n && strcmp(arr[i], buf) == 0) {
            *which = arr[i];
            return 1;
        }
        char *slash = strrchr(buf, '/');
        if (!slash || slash == buf) {
            *which = "/";
            return 1;
        }
        *slash = '\0';
    }
}

/* The first i in [0, n) with path_at(i) >= key (strcmp order); n if none. */
static size_t lower_bound(const char *key, size_t n,
                          const char *(*path_at)(const void *, size_t), const void *ctx)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(path_at(ctx, mid), key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The first (lowest) index i < n, not one of Docker's per-container files, whose path
 * (path_at(i)) equals an entry of arr or lies under one; n if none. Both lists are sorted
 * bytewise: the paths under a are the contiguous run that starts with a + "/" (and a
 * itself, which may sort apart from it: "/a-b" < "/a/b"), so each entry costs two binary
 * searches and a walk over its own run, instead of a search per ancestor of every path. */
static size_t first_under(char *const *arr, size_t narr, size_t n,
                          const char *(*path_at)(const void *, size_t), const void *ctx)
{
    size_t best = n;
    char buf[PATH_BUF + 1];
    for (size_t k = 0; k < narr; k++) {
        const char *a = arr[k];
        size_t al = strlen(a);
        if (al > PATH_BUF - 1)
            continue; /* longer than any path: nothing lies under it */
        size_t lo;
        if (al == 1 && a[0] == '/') {
            lo = 0; /* everything lies under "/" */
        } else {
            /* a itself */
            lo = lower_bound(a, n, path_at, ctx);
            if (lo < best && lo < n && strcmp(path_at(ctx, lo), a) == 0 &&
                !gsc_policy_is_container_file(a))
                best = lo;
            /* then the run of a + "/..." */
            memcpy(buf, a, al);
            buf[al] = '/';
            buf[al + 1] = 0;
            lo = lower_bound(buf, n, path_at, ctx);
        }
        for (size_t j = lo; j < best; j++) {
            const char *p = path_at(ctx, j);
            if (!(al == 1 && a[0] == '/') && strncmp(p, buf, al + 1) != 0)
                break;
            if (!gsc_policy_is_container_file(p)) {
                best = j;
                break;
            }
        }
    }
    return best;
}

static const char *trusted_at(const void *ctx, size_t i)
{
    return ((const gsc_manifest *)ctx)->trusted[i].path;
}

static const char *symlink_at(const void *ctx, size_t i)
{
    return ((const gsc_manifest *)ctx)->symlinks[i].path;
}

int gsc_policy_check(const gsc_manifest *m, char *err, size_t errlen)
{
    for (int pass = 0; pass < 3; pass++) {
        char *const *arr = pass == 2 ? m->readonly : pass ? m->tmpfs : m->allowed;
        size_t n = pass == 2 ? m->nreadonly : pass ? m->ntmpfs : m->nallowed;
        const char *kind = pass == 2 ? "the read-only path"
                         : pass ? "the tmpfs mount" : "the allowed path";
        const char *adj = pass == 2 ? "an unverified" : "a writable";
        if (!n)
            continue;
        const char *which = NULL;
        /* The first trusted file (then pinned symlink) in sorted order that lies in arr;
         * under_which finds the entry the message names. */
        size_t i = first_under(arr, n, m->ntrusted, trusted_at, m);
        if (i < m->ntrusted) {
            if (!under_which(arr, n, m->trusted[i].path, &which))
                which = "?"; /* cannot be: refused all the same */
            snprintf(err, errlen, "trusted file %.1000s lies in %s %.1000s (%s "
                     "place cannot hold trusted files)", m->trusted[i].path, kind, which, adj);
            return -1;
        }
        i = first_under(arr, n, m->nsymlinks, symlink_at, m);
        if (i < m->nsymlinks) {
            if (!under_which(arr, n, m->symlinks[i].path, &which))
                which = "?";
            snprintf(err, errlen, "pinned symlink %.1000s lies in %s %.1000s (%s "
                     "place cannot hold pinned names)", m->symlinks[i].path, kind, which, adj);
            return -1;
        }
    }
    return 0;
}

int gsc_path_normalise(const char *path, char *out, size_t outlen)
{
    if (!path || !out || outlen < 2 || path[0] != '/')
        return -1;
    size_t n = 0; /* bytes written to out, out[0] = '/' */
    out[n++] = '/';
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t seg = (size_t)(p - s);
        if (seg == 1 && s[0] == '.')
            continue;
        if (seg == 2 && s[0] == '.' && s[1] == '.') {
            /* drop the last segment of out (never above "/") */
            while (n > 1 && out[n - 1] != '/')
                n--;
            if (n > 1)
                n--;
            continue;
        }
        size_t need = (n > 1 ? 1 : 0) + seg;
        if (need >= outlen - n) /* keep room for the NUL */
            return -1;
        if (n > 1)
            out[n++] = '/';
        memcpy(out + n, s, seg);
        n += seg;
    }
    out[n] = '\0';
    return 0;
}
