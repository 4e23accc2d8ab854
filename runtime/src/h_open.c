/* open, openat, openat2, creat. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../core/policy.h"
#include "calls.h"
#include "decide.h"
#include "h_special.h"
#include "creds.h"
#include "log.h"
#include "pathset.h"
#include "phase.h"
#include "ratelog.h"
#include "resolve.h"
#include "trust.h"

#ifndef __NR_openat2
#define __NR_openat2 437
#endif

/* Always with a mode: the app's flags may hold O_TMPFILE (which needs one; FORTIFY aborts
 * a two-argument open with it). */
static int reopen(int opath_fd, int flags, mode_t mode)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", opath_fd);
    int fd = open(p, flags, mode);
    return fd < 0 ? -errno : fd;
}

static int is_tmpfile(int flags)
{
    return (flags & O_TMPFILE) == O_TMPFILE;
}

/* Writes or creates (O_TMPFILE creates an unnamed file in the directory). */
static int is_write(int flags)
{
    return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) || is_tmpfile(flags);
}

/* Phase 2, log level error or warning: absolute literal paths whose outcome is already
 * told (not denied, or denied and its first-denial line written, or absent) are not
 * classified again. Only a 64-bit hash of the literal path is kept; full: no insertion. */
static rt_pathset told;

/* Phase 2: the kernel answered; say what it (probably) refused, cheaply and rate-limited:
 * the literal path (joined to the app's cwd or dirfd) is classified, and only what looks
 * denied is resolved for real. Best effort: the app may have changed the string since.
 * What the app's memory held is read once (path, process_vm_readv); a repeated absolute
 * path costs that read and a hash lookup (below the debug level, where every line is
 * written anyway). */
/* The absolute form of the app's path: relative names joined to its cwd or dirfd. Read
 * before the reply, so that a process that exits at once (a failing `cat`) still gets its
 * denial explained. 0, or -1 when it cannot be told. */
static int join_app_path(const call *c, int dirfd, const char *path, char *full, size_t len)
{
    if (path[0] == '/')
        return (size_t)snprintf(full, len, "%s", path) < len ? 0 : -1;
    char link[64], base[PATH_MAX];
    if (dirfd == AT_FDCWD)
        snprintf(link, sizeof(link), "/proc/%d/cwd", (int)c->tid);
    else
        snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)c->tid, dirfd);
    ssize_t n = readlink(link, base, sizeof(base) - 1);
    if (n <= 0)
        return -1;
    base[n] = 0;
    return (size_t)snprintf(full, len, "%s/%s", base, path) < len ? 0 : -1;
}

/* full: join_app_path's result, or NULL. */
static void log_after_continue(call *c, const char *full_in, const char *path, int flags)
{
    char full[PATH_MAX], norm[PATH_MAX];
    /* Names relative to the app's own /proc entries mean something else to us: skip. */
    if (strncmp(path, "/proc/self", 10) == 0 || strncmp(path, "/proc/thread-self", 17) == 0 ||
        strncmp(path, "/dev/fd/", 8) == 0 || strncmp(path, "/dev/std", 8) == 0)
        return;
    uint64_t h = 0;
    int cache = path[0] == '/' && gsc_rt_log_level < GSC_LOG_DEBUG;
    if (cache) {
        h = rt_path_hash(path) ^ (uint64_t)(is_write(flags) && !(flags & O_PATH));
        if (!h)
            h = 1;
        if (rt_pathset_has(&told, h))
            return;
    }
    if (!full_in)
        return;
    snprintf(full, sizeof(full), "%s", full_in);
    const gsc_trusted_file *t;
    if (gsc_path_normalise(full, norm, sizeof(norm)) != 0)
        return;
    enum gsc_policy_class lk = gsc_policy_classify(c->m, norm, &t);
    if (!(flags & O_PATH) && is_write(flags) &&
        (lk == GSC_PATH_TRUSTED || lk == GSC_PATH_TRUSTED_DIR || lk == GSC_PATH_ALLOWED_RO)) {
        /* Landlock refuses writes there; say so (the literal name, best effort). */
        rt_deny_log(c, "open", norm, lk == GSC_PATH_ALLOWED_RO ? "read-only path"
                                                                : "write to a read-only (trusted) path");
        if (cache)
            rt_pathset_add(&told, h);
        return;
    }
    if (lk != GSC_PATH_DENIED) {
        if (cache)
            rt_pathset_add(&told, h);
        return;
    }
    /* Symlinks may lead somewhere allowed: resolve (as the kernel did) before saying so. */
    int fd = open(norm, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        if (cache && errno == ENOENT)
            rt_pathset_add(&told, h);
        return; /* absent: the app got ENOENT */
    }
    rt_resolved r;
    memset(&r, 0, sizeof(r));
    char p[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(p, r.path, sizeof(r.path) - 1);
    struct stat st;
    int isdir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    close(fd);
    if (n <= 0)
        return;
    r.path[n] = 0;
    if (rt_classify(c->m, &r, &t) == GSC_PATH_DENIED && !isdir)
        rt_deny_log(c, "open", r.path, "not a trusted or allowed file");
    if (cache)
        rt_pathset_add(&told, h);
}

static void do_open(call *c, int dirfd, uint64_t path_addr, int flags, mode_t mode,
                    uint64_t rflags, const char *what)
{
    char path[PATH_MAX];
    int e = rt_read_str(c, path_addr, path, sizeof(path));
    if (rt_phase() == 2) {
        /* The supervisor answers /dev/attestation and encrypted files itself (h_special.h);
         * anything else goes to the kernel. The string is read once: a racing thread can
         * only turn such a path into an ordinary one, which the kernel then decides
         * (docs/runtime.md, "/dev/attestation"). An unreadable string: the kernel decides. */
        if (e >= 0 && rt_attest_path(path)) {
            if (rt_still_valid(c))
                rt_attest_open(c, path, flags);
            return;
        }
        if (e < 0 || !rt_enc_maybe(c, dirfd, path)) {
            char full[PATH_MAX];
            /* absolute names cost nothing here; relative ones one readlink */
            int have_full = e >= 0 && join_app_path(c, dirfd, path, full, sizeof(full)) == 0;
            rt_respond(c, 0, 1);
            if (e < 0)
                return;
            LOG_DEBUG("policy: %s %s: left to the kernel's Landlock domain (phase 2) "
                      "(pid %d)", what, path, (int)c->tid);
            log_after_continue(c, have_full ? full : NULL, path, flags);
            return;
        }
    }
    /* As the kernel does: O_PATH ignores every other flag but these. */
    if (flags & O_PATH)
        flags &= O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    if (e < 0)
        return rt_read_failed(c, e);
    if (rt_attest_path(path)) {
        if (rt_still_valid(c))
            rt_attest_open(c, path, flags);
        return;
    }
    int creating = (flags & O_CREAT) != 0;
    int mode_r = 0;
    if (!(flags & O_NOFOLLOW) && !(creating && (flags & O_EXCL)))
        mode_r |= RT_FOLLOW;
    int le = rt_creds_load(c, creating || is_tmpfile(flags));
    /* What was read (path, credentials) is about the thread that asked only if its call
     * is still pending now. */
    if (!rt_still_valid(c))
        return;
    if (le < 0)
        return rt_respond(c, le, 0);
    if ((e = rt_creds_enter(c, creating || is_tmpfile(flags))) < 0) {
        rt_creds_leave(c);
        return rt_respond(c, e, 0);
    }
    rt_resolved r;
    int attempts = 0;
again:
    e = rt_resolve(c->tid, c->tgid, dirfd, path, mode_r, rflags, &r);
    if (e < 0) {
        rt_creds_leave(c);
        LOG_TRACE("policy: %s %s: lookup failed: %s", what, path, strerror(-e));
        return rt_respond(c, e, 0);
    }
    const gsc_encrypted_mount *em = r.anon ? NULL : rt_enc_mount_of(c->m, r.path);
    if (em) {
        /* Decrypted by the supervisor, never opened by the app (h_encrypted.c). */
        int ef = rt_enc_open(c, em, &r, flags, what);
        if (ef != 1) {
            rt_creds_leave(c);
            rt_resolved_close(&r);
            if (ef >= 0)
                return rt_inject(c, ef, (flags & O_CLOEXEC) != 0);
            return rt_respond(c, ef, 0);
        }
    }
    const gsc_trusted_file *t;
    enum gsc_policy_class k = rt_classify(c->m, &r, &t);
    int fd = -1, err = 0, cont = 0;
    const char *note = "";

    if (k == GSC_PATH_DENIED) {
        if (r.fd < 0 && !creating) {
            err = -ENOENT; /* nothing there: answer as the kernel would, touch nothing */
            note = "absent";
        } else if (c->m->allow_all_but_log) {
            LOG_WARN("policy: allow_all_but_log: permitting %s %s (pid %d)", what, r.path,
                     (int)c->tid);
            k = GSC_PATH_ALLOWED;
        } else {
            /* Any directory may be listed (names, never contents): the Landlock domain
             * grants READ_DIR on the directories of trusted files, and Landlock rights
             * hold for everything beneath, "/" included, so the kernel lets phase 2 list
             * them; phase 1 answers the same (docs/runtime.md, "Directories"). */
            struct stat dst;
            if (flags & O_PATH) {
                /* A handle that reads nothing (as stat() tells natively): the kernel gives
                 * it in phase 2 too, and every open or exec through it comes back here or
                 * to the Landlock domain. */
                k = GSC_PATH_TRUSTED_DIR;
                note = "O_PATH";
            } else if (!is_write(flags) && fstat(r.fd, &dst) == 0 && S_ISDIR(dst.st_mode)) {
                k = GSC_PATH_TRUSTED_DIR;
                note = "listing only";
            } else {
                rt_deny_log(c, what, r.path, "not a trusted or allowed file");
                err = -EACCES;
            }
        }
    }
    if (err == 0 && r.fd < 0) {
        /* Creating a new name: only where writes are allowed. */
        if (!creating) {
            err = -ENOENT;
        } else if (k != GSC_PATH_ALLOWED) {
            rt_deny_log(c, what, r.path, "cannot create files outside allowed paths");
            err = -EACCES;
        } else if (r.trailing_slash) {
            err = -EISDIR;
        } else {
            /* O_EXCL: what we create is what we checked. A name that appeared since the
             * lookup (e.g. another hard link of a trusted file, or a FIFO) is looked up
             * and checked again. O_NOCTTY: we never take a controlling terminal. */
            umask(c->umask);
            fd = openat(r.parent, r.name,
                        (flags | O_NOFOLLOW | O_EXCL | O_NOCTTY) & ~O_CLOEXEC, mode);
            umask(077);
            if (fd < 0)
                err = -errno;
            if (err == -EEXIST && !(flags & O_EXCL) && ++attempts < 8) {
                rt_resolved_close(&r);
                goto again;
            }
            note = "created";
        }
    } else if (err == 0 && r.is_link) {
        /* Final symlink not followed (O_NOFOLLOW): only O_PATH can open it. */
        if (flags & O_PATH) {
            cont = 1;
            note = "O_PATH";
        } else {
            err = -ELOOP;
        }
    } else if (err == 0 && creating && (flags & O_EXCL)) {
        err = -EEXIST;
    } else if (err == 0 && (flags & O_PATH)) {
        /* A handle without read or write access. The kernel cannot take one through
         * SECCOMP_IOCTL_NOTIF_ADDFD (fget() refuses O_PATH files: EBADF), so the app opens
         * it itself. Should a racing thread retarget the path meanwhile, what it gets is a
         * handle that reads nothing, allows what stat() allows natively anyway, and leads
         * back to this policy (or the kernel's Landlock domain) for any open or exec
         * through it (/proc/self/fd/N, dirfd, execveat). */
        cont = 1;
        note = "O_PATH";
    } else if (err == 0 && k == GSC_PATH_TRUSTED) {
        if (is_write(flags)) {
            rt_deny_log(c, what, r.path, "trusted files are read-only");
            err = -EACCES;
        } else {
            /* Opened non-blocking (a FIFO must not hang us), the app's status flags set
             * afterwards; a regular file (the resolved descriptor pins the inode) is
             * opened with them directly. */
            int fl = (flags & (O_NONBLOCK | O_APPEND | O_NOATIME));
            int known_reg = S_ISREG(r.st_mode);
            if ((fd = reopen(r.fd, O_RDONLY | O_NOCTTY | O_CLOEXEC |
                                       (known_reg ? fl : O_NONBLOCK), 0)) < 0) {
                err = fd;
            } else if ((e = rt_trust_verify(t, fd)) < 0) {
                if (e == -EPERM)
                    rt_phase_failure(t);
                if (e == -EPERM)
                    LOG_ERR("policy: trusted file %s: SHA-256 mismatch, refusing (EPERM) "
                            "(pid %d)", r.path, (int)c->tid);
                err = e == -EPERM ? -EPERM : e;
            } else if (flags & O_DIRECTORY) {
                err = -ENOTDIR;
            } else {
                if (!known_reg && fcntl(fd, F_SETFL, fl) < 0)
                    err = -errno;
                note = "verified";
            }
        }
    } else if (err == 0 && k == GSC_PATH_TRUSTED_DIR) {
        struct stat st;
        if (is_write(flags) || fstat(r.fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
            rt_deny_log(c, what, r.path, "directories of trusted files may only be listed");
            err = -EACCES;
        } else if ((fd = reopen(r.fd, (flags & ~(O_CREAT | O_NOFOLLOW)) | O_CLOEXEC |
                                          O_NOCTTY, 0)) < 0) {
            err = fd;
        }
    } else if (err == 0 && k == GSC_PATH_ALLOWED) {
        struct stat st;
        if (is_write(flags) && fstat(r.fd, &st) == 0 && S_ISREG(st.st_mode) &&
            st.st_nlink > 1) {
            /* Another name for the same inode may be a trusted file. */
            rt_deny_log(c, what, r.path, "refusing write access to a file with hard links");
            err = -EACCES;
        } else {
            int fl = (flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW)) | O_CLOEXEC | O_NONBLOCK |
                     O_NOCTTY;
            if (is_tmpfile(flags))
                umask(c->umask);
            fd = reopen(r.fd, fl, mode);
            if (is_tmpfile(flags))
                umask(077);
            if (fd < 0)
                err = fd;
            else if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
                err = -errno;
        }
    } else if (err == 0 && k == GSC_PATH_ALLOWED_RO) {
        /* Read-only inputs (gsc.readonly_files, Docker's per-container files): opened
         * with the app's flags and credentials like an allowed path, never for writing.
         * Landlock grants READ_FILE|READ_DIR there, so phase 2 answers the same. */
        if (is_write(flags)) {
            rt_deny_log(c, what, r.path, "read-only path");
            err = -EACCES;
        } else {
            int fl = (flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW)) | O_CLOEXEC | O_NONBLOCK |
                     O_NOCTTY;
            fd = reopen(r.fd, fl, 0);
            if (fd < 0)
                err = fd;
            else if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
                err = -errno;
        }
    }
    rt_creds_leave(c);
    if (err == 0 && cont) {
        LOG_DEBUG("policy: %s %s (%s, %s): allowed (pid %d)", what, r.path, rt_class_name(k),
                  note, (int)c->tid);
        rt_resolved_close(&r);
        if (rt_still_valid(c))
            rt_respond(c, 0, 1);
        return;
    }
    if (err == 0 && fd >= 0) {
        LOG_DEBUG("policy: %s %s (%s%s%s): allowed (pid %d)", what, r.path, rt_class_name(k),
                  note[0] ? ", " : "", note, (int)c->tid);
        rt_resolved_close(&r);
        rt_inject(c, fd, (flags & O_CLOEXEC) != 0);
        return;
    }
    if (fd >= 0)
        close(fd);
    if (err == 0)
        err = -EACCES;
    LOG_DEBUG("policy: %s %s (%s): %s (pid %d)", what, r.path, rt_class_name(k), strerror(-err),
              (int)c->tid);
    rt_resolved_close(&r);
    rt_respond(c, err, 0);
}

void rt_h_open(call *c, const rt_callspec *s, const uint64_t *a)
{
    switch (s->nr) {
    case __NR_open:
        return do_open(c, AT_FDCWD, a[0], (int)a[1], (mode_t)a[2], 0, "open");
    case __NR_openat:
        return do_open(c, (int)(int32_t)a[0], a[1], (int)a[2], (mode_t)a[3], 0, "open");
    case __NR_creat:
        return do_open(c, AT_FDCWD, a[0], O_CREAT | O_WRONLY | O_TRUNC, (mode_t)a[1], 0,
                       "open");
    default:
        break;
    }
    /* openat2 */
    struct open_how how;
    memset(&how, 0, sizeof(how));
    if (a[3] < sizeof(how))
        return rt_respond(c, -EINVAL, 0);
    int e = rt_read_mem(c, a[2], &how, sizeof(how));
    if (e < 0)
        return rt_read_failed(c, e);
    if (a[3] > sizeof(how)) {
        /* The kernel demands unknown trailing bytes be zero; so do we. */
        unsigned char extra[256];
        size_t n = a[3] - sizeof(how);
        if (n > sizeof(extra))
            return rt_respond(c, -E2BIG, 0);
        if ((e = rt_read_mem(c, a[2] + sizeof(how), extra, n)) < 0)
            return rt_read_failed(c, e);
        int nz = 0;
        for (size_t i = 0; i < n; i++)
            nz |= extra[i];
        if (nz)
            return rt_respond(c, -E2BIG, 0);
    }
    if (how.flags > 0xffffffffULL || how.mode > 07777 ||
        (how.resolve & ~(uint64_t)(RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS |
                                   RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_IN_ROOT |
                                   RESOLVE_CACHED)))
        return rt_respond(c, -EINVAL, 0);
    do_open(c, (int)(int32_t)a[0], a[1], (int)how.flags, (mode_t)how.mode,
            how.resolve & ~(uint64_t)RESOLVE_CACHED, "open");
}
