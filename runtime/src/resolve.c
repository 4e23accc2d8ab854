#include "resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

#define MAX_LINKS 40

static int root_fd = -1;
static int have_openat2 = 1; /* cleared when the kernel lacks it (ENOSYS) */

/* The supervisor's own /proc/PID directory, as the kernel names it ("/proc/1"), and the
 * device of that procfs. The supervisor may always open its own /proc entries (mem,
 * environ, fd/N ...: the kernel's ptrace checks pass for one's own thread group), so an
 * application that could name them through us would act with our powers. */
static char sup_proc[64];
static size_t sup_proc_len;
static dev_t proc_dev;

static int fd_path(int fd, char *out, size_t outlen, int *anon);

int rt_resolve_init(void)
{
    root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0)
        return -errno;
    int pfd = open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0)
        return -errno;
    struct stat st;
    int anon = 0;
    int e = fstat(pfd, &st) < 0 ? -errno : fd_path(pfd, sup_proc, sizeof(sup_proc), &anon);
    close(pfd);
    if (e < 0)
        return e;
    if (anon)
        return -EINVAL;
    proc_dev = st.st_dev;
    sup_proc_len = strlen(sup_proc);
    return 0;
}

/* Is fd (stat st) the supervisor's /proc/PID directory or anything below it? */
static int is_supervisor_proc(int fd, const struct stat *st)
{
    if (st->st_dev != proc_dev || sup_proc_len == 0)
        return 0;
    char p[PATH_MAX];
    int anon = 0;
    if (fd_path(fd, p, sizeof(p), &anon) < 0)
        return 1; /* cannot tell: fail closed */
    return strncmp(p, sup_proc, sup_proc_len) == 0 &&
           (p[sup_proc_len] == 0 || p[sup_proc_len] == '/');
}

/* Checks after every move of the walk: never into the supervisor's /proc entries, and
 * RESOLVE_NO_XDEV also for "..", absolute symlinks and magic links. */
static int check_step(int fd, const struct stat *start, unsigned long long rflags)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (is_supervisor_proc(fd, &st))
        return -EACCES;
    if ((rflags & RESOLVE_NO_XDEV) && st.st_dev != start->st_dev)
        return -EXDEV;
    return 0;
}

void rt_resolved_close(rt_resolved *r)
{
    if (r->fd >= 0)
        close(r->fd);
    if (r->parent >= 0)
        close(r->parent);
    r->fd = r->parent = -1;
}

static int fd_path(int fd, char *out, size_t outlen, int *anon)
{
    char link[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, outlen - 1);
    if (n < 0)
        return -errno;
    if ((size_t)n >= outlen - 1)
        return -ENAMETOOLONG;
    out[n] = 0;
    *anon = out[0] != '/';
    return 0;
}

/* The path of fd when it is longer than PATH_MAX (legal through relative lookups): the
 * nearest ancestor whose path fits, followed by a placeholder component that no manifest
 * entry holds. Only allowed directories can hold such depths (trusted paths are shorter
 * and the app cannot move anything out of or into places it may not write), so the
 * placeholder classifies as "beneath that ancestor": allowed under an allowed directory,
 * denied anywhere else (rt_classify never lets it count as a trusted file). */
#define RT_DEEP_NAME ".gsc-path-longer-than-PATH_MAX"

static int fd_path_deep(int fd, char *out, size_t outlen, int *anon)
{
    int e = fd_path(fd, out, outlen, anon);
    if (e != -ENAMETOOLONG)
        return e;
    int cur = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    for (int i = 0; cur >= 0 && i < PATH_MAX; i++) {
        int up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        close(cur);
        cur = up;
        if (cur < 0)
            break;
        e = fd_path(cur, out, outlen - sizeof(RT_DEEP_NAME) - 1, anon);
        if (e == -ENAMETOOLONG)
            continue;
        close(cur);
        if (e < 0 || *anon)
            return e < 0 ? e : -ENAMETOOLONG;
        size_t l = strlen(out);
        snprintf(out + l, outlen - l, "%s" RT_DEEP_NAME, l == 1 ? "" : "/");
        return 0;
    }
    if (cur >= 0)
        close(cur);
    return -ENAMETOOLONG;
}

/* For an object in directory dirfd whose own path is too long: the nearest ancestor that
 * has a path (dirfd itself when it fits with room) followed by the placeholder. */
static int deep_child_path(int dirfd, char *out, size_t outlen)
{
    int anon = 0;
    int e = fd_path_deep(dirfd, out, outlen - sizeof("/" RT_DEEP_NAME), &anon);
    if (e < 0)
        return e;
    if (anon)
        return -ENAMETOOLONG;
    size_t l = strlen(out);
    if (strstr(out, "/" RT_DEEP_NAME) == NULL)
        snprintf(out + l, outlen - l, "%s" RT_DEEP_NAME, l == 1 ? "" : "/");
    return 0;
}

int rt_path_is_deep_placeholder(const char *path)
{
    return strstr(path, "/" RT_DEEP_NAME) != NULL;
}

static int is_procfs(int fd)
{
    struct statfs sfs;
    return fstatfs(fd, &sfs) == 0 && sfs.f_type == PROC_SUPER_MAGIC;
}

static int same_inode(int a, const struct stat *b)
{
    struct stat sa;
    return fstat(a, &sa) == 0 && sa.st_dev == b->st_dev && sa.st_ino == b->st_ino;
}

/* Prepend "target/" to the pending components in rest (in place). */
static int push_front(char *rest, size_t restsize, const char *target)
{
    size_t tl = strlen(target), rl = strlen(rest);
    if (tl + 1 + rl + 1 > restsize)
        return -ENAMETOOLONG;
    memmove(rest + tl + 1, rest, rl + 1);
    memcpy(rest, target, tl);
    rest[tl] = '/';
    return 0;
}

static int start_fd(pid_t tid, int dirfd)
{
    char p[64];
    if (dirfd == AT_FDCWD)
        snprintf(p, sizeof(p), "/proc/%d/cwd", (int)tid);
    else if (dirfd < 0)
        return -EBADF;
    else
        snprintf(p, sizeof(p), "/proc/%d/fd/%d", (int)tid, dirfd);
    int fd = open(p, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -EBADF : -errno;
    return fd;
}

/* Thread group of a thread, from /proc/TID/status (only read when /proc/self is used). */
static pid_t tgid_of(pid_t tid)
{
    char p[64], buf[512];
    snprintf(p, sizeof(p), "/proc/%d/status", (int)tid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *t = strstr(buf, "\nTgid:");
    if (!t)
        return -1;
    long v = strtol(t + 6, NULL, 10);
    return v > 0 ? (pid_t)v : -1;
}

static void move_to(int *cur, int nfd)
{
    close(*cur);
    *cur = nfd;
}

/* Has the path a ".." component? */
static int has_dotdot(const char *path)
{
    for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2)
        if ((p == path || p[-1] == '/') && (p[2] == 0 || p[2] == '/'))
            return 1;
    return 0;
}

/* The common case in one step: a path without "..", without any symlink (magic links and
 * /proc/self included: openat2's RESOLVE_NO_SYMLINKS refuses them all) and without a
 * trailing slash, looked up by the kernel from the same start directory. Without ".."
 * and symlinks every directory the walk passes through is an ancestor of the result, so
 * the result's kernel path (which is needed anyway) shows whether the walk went into the
 * supervisor's /proc/PID. Returns 1 with out filled in, or 0: anything unusual (a
 * symlink, "..", a missing name, an error, a path into the supervisor's /proc entry) is
 * left to the component-by-component walk, which gives the exact answer. */
static int resolve_fast(int start, const char *path, rt_resolved *out)
{
    struct open_how how = {.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
                           .resolve = RESOLVE_NO_SYMLINKS};
    long fd = syscall(SYS_openat2, start, path, &how, sizeof(how));
    if (fd < 0) {
        if (errno == ENOSYS)
            have_openat2 = 0;
        return 0;
    }
    struct stat st;
    /* A final symlink (O_NOFOLLOW) is returned as such: the walk handles it. */
    if (fstat((int)fd, &st) < 0 || S_ISLNK(st.st_mode) ||
        fd_path((int)fd, out->path, sizeof(out->path), &out->anon) < 0 || out->anon ||
        (sup_proc_len > 0 && strncmp(out->path, sup_proc, sup_proc_len) == 0 &&
         (out->path[sup_proc_len] == 0 || out->path[sup_proc_len] == '/'))) {
        close((int)fd);
        out->path[0] = 0;
        out->anon = 0;
        return 0;
    }
    out->fd = (int)fd;
    out->st_mode = st.st_mode;
    return 1;
}

int rt_resolve(pid_t tid, pid_t tgid, int dirfd, const char *path, int mode,
               unsigned long long rflags, rt_resolved *out)
{
    memset(out, 0, sizeof(*out));
    out->fd = out->parent = -1;
    size_t plen = strlen(path);
    if (plen >= PATH_MAX)
        return -ENAMETOOLONG;
    if (plen == 0 && !(mode & RT_EMPTY_OK))
        return -ENOENT;
    out->trailing_slash = plen > 0 && path[plen - 1] == '/';

    int cur;
    int beneath = (rflags & (RESOLVE_BENEATH | RESOLVE_IN_ROOT)) != 0;
    struct stat start_st;
    int base = -1; /* with RESOLVE_IN_ROOT/BENEATH: a copy of the starting directory */
    int fast = have_openat2 && plen > 0 && rflags == 0 && !out->trailing_slash &&
               !has_dotdot(path);
    if (path[0] == '/' && !beneath) {
        if (fast && resolve_fast(root_fd, path, out))
            return 0;
        cur = dup(root_fd);
        if (cur < 0)
            return -errno;
    } else {
        if (path[0] == '/' && (rflags & RESOLVE_BENEATH))
            return -EXDEV;
        cur = start_fd(tid, dirfd);
        if (cur < 0)
            return cur;
        if (fast && resolve_fast(cur, path, out)) {
            close(cur);
            return 0;
        }
    }
    if (fstat(cur, &start_st) < 0) {
        int e = -errno;
        close(cur);
        return e;
    }
    if (plen > 0 && !S_ISDIR(start_st.st_mode)) {
        close(cur);
        return -ENOTDIR;
    }
    if (is_supervisor_proc(cur, &start_st)) {
        close(cur);
        return -EACCES;
    }
    if (beneath && (base = dup(cur)) < 0) {
        int e = -errno;
        close(cur);
        return e;
    }

    char rest[2 * PATH_MAX];
    memcpy(rest, path, plen + 1);
    int lastdir = -1;               /* directory of a final non-directory component */
    char lastname[NAME_MAX + 1] = "";
    int links = 0;
    int err = 0;

    for (;;) {
        char *p = rest;
        while (*p == '/')
            p++;
        if (!*p)
            break;
        char comp[NAME_MAX + 1];
        size_t cl = strcspn(p, "/");
        if (cl > NAME_MAX) {
            err = -ENAMETOOLONG;
            goto fail;
        }
        memcpy(comp, p, cl);
        comp[cl] = 0;
        p += cl;
        memmove(rest, p, strlen(p) + 1);
        int last = rest[strspn(rest, "/")] == 0;

        if (strcmp(comp, ".") == 0)
            continue;
        if (strcmp(comp, "..") == 0) {
            if (beneath && same_inode(cur, &start_st)) {
                if (rflags & RESOLVE_BENEATH) {
                    err = -EXDEV;
                    goto fail;
                }
                continue; /* RESOLVE_IN_ROOT: ".." at the root stays there */
            }
            int nfd = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (nfd < 0) {
                err = -errno;
                goto fail;
            }
            move_to(&cur, nfd);
            if ((err = check_step(cur, &start_st, rflags)) < 0)
                goto fail;
            continue;
        }
        /* /proc/self and /proc/thread-self name the application, not us. */
        if ((strcmp(comp, "self") == 0 || strcmp(comp, "thread-self") == 0) &&
            is_procfs(cur)) {
            struct stat cs;
            if (fstat(cur, &cs) == 0 && cs.st_ino == 1) {
                char sub[64];
                if (tgid <= 0 && (tgid = tgid_of(tid)) <= 0) {
                    err = -EACCES;
                    goto fail;
                }
                if (comp[0] == 's')
                    snprintf(sub, sizeof(sub), "%d", (int)tgid);
                else
                    snprintf(sub, sizeof(sub), "%d/task/%d", (int)tgid, (int)tid);
                if (++links > MAX_LINKS || (rflags & RESOLVE_NO_SYMLINKS)) {
                    err = -ELOOP;
                    goto fail;
                }
                if ((err = push_front(rest, sizeof(rest), sub)) < 0)
                    goto fail;
                continue;
            }
        }
        int nfd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (nfd < 0) {
            err = -errno;
            if (err == -ENOENT && last) {
                out->parent = cur;
                cur = -1;
                memcpy(out->name, comp, cl + 1);
                break;
            }
            goto fail;
        }
        struct stat st;
        if (fstat(nfd, &st) < 0) {
            err = -errno;
            close(nfd);
            goto fail;
        }
        if (S_ISLNK(st.st_mode) && (!last || (mode & RT_FOLLOW))) {
            if (++links > MAX_LINKS || (rflags & RESOLVE_NO_SYMLINKS)) {
                close(nfd);
                err = -ELOOP;
                goto fail;
            }
            char target[PATH_MAX];
            ssize_t tl = readlinkat(nfd, "", target, sizeof(target) - 1);
            close(nfd);
            if (tl < 0) {
                err = -errno;
                goto fail;
            }
            target[tl] = 0;
            if (is_procfs(cur) && (target[0] == '/' || strchr(target, ':'))) {
                /* A magic link (fd/N, cwd, exe, root...): the kernel knows the object. */
                if (rflags & (RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH | RESOLVE_IN_ROOT)) {
                    err = -ELOOP;
                    goto fail;
                }
                int mfd = openat(cur, comp, O_PATH | O_CLOEXEC);
                if (mfd < 0) {
                    err = -errno;
                    goto fail;
                }
                move_to(&cur, mfd);
                if ((err = check_step(cur, &start_st, rflags)) < 0)
                    goto fail;
                if (!last) {
                    struct stat ms;
                    if (fstat(cur, &ms) < 0 || !S_ISDIR(ms.st_mode)) {
                        err = -ENOTDIR;
                        goto fail;
                    }
                }
                continue;
            }
            if (target[0] == '/') {
                if (rflags & RESOLVE_BENEATH) {
                    err = -EXDEV;
                    goto fail;
                }
                int rfd = dup(base >= 0 ? base : root_fd);
                if (rfd < 0) {
                    err = -errno;
                    goto fail;
                }
                move_to(&cur, rfd);
                if ((err = check_step(cur, &start_st, rflags)) < 0)
                    goto fail;
            }
            if ((err = push_front(rest, sizeof(rest), target)) < 0)
                goto fail;
            continue;
        }
        if (!last && !S_ISDIR(st.st_mode)) {
            close(nfd);
            err = -ENOTDIR;
            goto fail;
        }
        if ((rflags & RESOLVE_NO_XDEV) && st.st_dev != start_st.st_dev) {
            close(nfd);
            err = -EXDEV;
            goto fail;
        }
        if (is_supervisor_proc(nfd, &st)) {
            close(nfd);
            err = -EACCES;
            goto fail;
        }
        if (last && !S_ISDIR(st.st_mode)) {
            /* its directory, should the final path be longer than PATH_MAX */
            if (lastdir >= 0)
                close(lastdir);
            lastdir = fcntl(cur, F_DUPFD_CLOEXEC, 0);
            snprintf(lastname, sizeof(lastname), "%s", comp);
        } else if (lastdir >= 0) {
            close(lastdir);
            lastdir = -1;
        }
        move_to(&cur, nfd);
        if (S_ISLNK(st.st_mode))
            out->is_link = 1;
    }

    if (cur >= 0) {
        out->fd = cur;
        struct stat fs;
        if (out->trailing_slash && fstat(cur, &fs) == 0 && !S_ISDIR(fs.st_mode)) {
            err = -ENOTDIR;
        } else {
            err = fd_path_deep(cur, out->path, sizeof(out->path), &out->anon);
            if (err == -ENAMETOOLONG && lastdir >= 0) {
                /* a file deeper than PATH_MAX: "beneath" its directory's nearest ancestor
                 * that has a path */
                err = deep_child_path(lastdir, out->path, sizeof(out->path));
            }
        }
    } else {
        int anon = 0;
        err = fd_path_deep(out->parent, out->path, sizeof(out->path), &anon);
        if (!err && anon)
            err = -ENOENT;
        if (!err) {
            size_t l = strlen(out->path);
            if (l + 1 + strlen(out->name) + 1 <= sizeof(out->path))
                snprintf(out->path + l, sizeof(out->path) - l, "%s%s",
                         (l == 1) ? "" : "/", out->name);
            else
                err = deep_child_path(out->parent, out->path, sizeof(out->path));
        }
    }
    if (base >= 0)
        close(base);
    if (lastdir >= 0)
        close(lastdir);
    if (err) {
        rt_resolved_close(out);
        return err;
    }
    return 0;
fail:
    if (cur >= 0)
        close(cur);
    if (base >= 0)
        close(base);
    if (lastdir >= 0)
        close(lastdir);
    return err;
}
