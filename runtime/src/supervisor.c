#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../core/policy.h"
#include "exec.h"
#include "log.h"
#include "resolve.h"
#include "trust.h"
#include "util.h"

#ifndef __NR_openat2
#define __NR_openat2 437
#endif
#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

#define MAX_GROUPS 256

/* One notification being handled. */
typedef struct {
    const gsc_manifest *m;
    int nfd;
    uint64_t id;
    pid_t tid, tgid;
    int memfd;          /* /proc/TID/mem, only opened when process_vm_readv cannot be used */
    int vm_eperm;       /* process_vm_readv said EPERM */
    /* the application thread's credentials (from /proc/TID/status or the cache) */
    uid_t fsuid;
    gid_t fsgid;
    mode_t umask;
    gid_t groups[MAX_GROUPS];
    int ngroups;
    int creds_ok;       /* fsuid, fsgid, groups, tgid known */
    int umask_ok;       /* umask known (read fresh: it is not cached) */
    int entered;        /* creds_enter changed our file system identity */
} call;

static int sup_root;                   /* supervisor runs with euid 0 */
static gid_t sup_groups[MAX_GROUPS];
static int sup_ngroups;
static int vm_readv_ok = 1;            /* process_vm_readv usable (else /proc/TID/mem) */

/* ---- responses ---------------------------------------------------------------------- */

static void respond(const call *c, int err, int cont)
{
    struct seccomp_notif_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.id = c->id;
    resp.error = cont ? 0 : err;
    resp.flags = cont ? SECCOMP_USER_NOTIF_FLAG_CONTINUE : 0;
    if (ioctl(c->nfd, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 && errno != ENOENT)
        LOG_WARN("cannot answer notification: %s", strerror(errno));
}

static int still_valid(const call *c)
{
    uint64_t id = c->id;
    return ioctl(c->nfd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

/* Hand fd to the app as the result of its open (atomically, SECCOMP_ADDFD_FLAG_SEND). */
static void inject(const call *c, int fd, int cloexec)
{
    struct seccomp_notif_addfd a;
    memset(&a, 0, sizeof(a));
    a.id = c->id;
    a.flags = SECCOMP_ADDFD_FLAG_SEND;
    a.srcfd = (uint32_t)fd;
    a.newfd_flags = cloexec ? O_CLOEXEC : 0;
    if (ioctl(c->nfd, SECCOMP_IOCTL_NOTIF_ADDFD, &a) < 0) {
        int e = errno;
        if (e != ENOENT) {
            LOG_WARN("cannot hand descriptor to the app: %s", strerror(e));
            respond(c, -e, 0);
        }
    }
    close(fd);
}

/* ---- reading the application ------------------------------------------------------- */

/* Read len bytes of the app thread's memory at addr: process_vm_readv (one system call),
 * else /proc/TID/mem (when a seccomp profile refuses process_vm_readv). Returns the number
 * of bytes read, -EFAULT for an address the app cannot read either, -EACCES when the
 * thread's memory cannot be read at all (non-dumpable, gone). What was read is only
 * used after still_valid(): the tid may have been reused by then. */
static ssize_t peek(call *c, uint64_t addr, void *out, size_t len)
{
    if (c->memfd < 0 && vm_readv_ok) {
        struct iovec l = {.iov_base = out, .iov_len = len};
        struct iovec r = {.iov_base = (void *)(uintptr_t)addr, .iov_len = len};
        ssize_t n = process_vm_readv(c->tid, &l, 1, &r, 1, 0);
        if (n >= 0)
            return n;
        if (errno == EFAULT)
            return -EFAULT;
        if (errno == ENOSYS)
            vm_readv_ok = 0;
        /* EPERM (not permitted, or refused by a seccomp profile such as Docker's before
         * 23.0), ESRCH ...: try /proc/TID/mem, which says the same or works. */
        c->vm_eperm = errno == EPERM;
    }
    if (c->memfd < 0) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/%d/mem", (int)c->tid);
        c->memfd = open(p, O_RDONLY | O_CLOEXEC);
        if (c->memfd < 0)
            return -EACCES;
        /* The same access check passed here (our real and file system credentials are
         * the same while we read): process_vm_readv is refused by policy, stop trying. */
        if (c->vm_eperm)
            vm_readv_ok = 0;
    }
    ssize_t n = pread(c->memfd, out, len, (off_t)addr);
    return n < 0 ? -EFAULT : n;
}

static int read_mem(call *c, uint64_t addr, void *out, size_t len)
{
    ssize_t n = peek(c, addr, out, len);
    if (n < 0)
        return (int)n;
    return n == (ssize_t)len ? 0 : -EFAULT;
}

/* NUL-terminated string at addr, read page by page so an unmapped page past the NUL does
 * not fail the read. */
static int read_str(call *c, uint64_t addr, char *out, size_t outlen)
{
    if (addr == 0)
        return -EFAULT;
    size_t got = 0;
    while (got < outlen) {
        uint64_t a = addr + got;
        size_t chunk = 4096 - (size_t)(a & 4095);
        if (chunk > outlen - got)
            chunk = outlen - got;
        ssize_t n = peek(c, a, out + got, chunk);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -EFAULT;
        void *z = memchr(out + got, 0, (size_t)n);
        if (z)
            return 0;
        got += (size_t)n;
    }
    return -ENAMETOOLONG;
}

/* A read of the app's memory failed: answer (unless the call is gone meanwhile). */
static void read_failed(const call *c, int e)
{
    if (!still_valid(c))
        return;
    if (e == -EACCES)
        LOG_WARN("cannot inspect pid %d: refusing its call", (int)c->tid);
    respond(c, e, 0);
}

static int parse_ids(const char *line, unsigned long *vals, int max)
{
    int n = 0;
    const char *p = line;
    while (n < max) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p < '0' || *p > '9')
            break;
        char *end;
        vals[n++] = strtoul(p, &end, 10);
        p = end;
    }
    return n;
}

static int read_status(call *c)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)c->tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -EIO;
    buf[n] = 0;
    int have = 0;
    for (char *line = buf; line && *line;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        unsigned long v[MAX_GROUPS];
        if (strncmp(line, "Tgid:", 5) == 0 && parse_ids(line + 5, v, 1) == 1) {
            c->tgid = (pid_t)v[0];
            have |= 1;
        } else if (strncmp(line, "Umask:", 6) == 0) {
            c->umask = (mode_t)strtoul(line + 6, NULL, 8) & 0777;
            have |= 2;
        } else if (strncmp(line, "Uid:", 4) == 0 && parse_ids(line + 4, v, 4) == 4) {
            c->fsuid = (uid_t)v[3];
            have |= 4;
        } else if (strncmp(line, "Gid:", 4) == 0 && parse_ids(line + 4, v, 4) == 4) {
            c->fsgid = (gid_t)v[3];
            have |= 8;
        } else if (strncmp(line, "Groups:", 7) == 0) {
            int k = parse_ids(line + 7, v, MAX_GROUPS);
            for (int i = 0; i < k; i++)
                c->groups[i] = (gid_t)v[i];
            c->ngroups = k;
            have |= 16;
        }
        line = next;
    }
    if (have != 31)
        return -EIO;
    c->creds_ok = 1;
    c->umask_ok = 1;
    return 0;
}

/* ---- credentials cache (root supervisor) -------------------------------------------
 *
 * Reading /proc/TID/status costs more than the rest of an open. A thread's fsuid, fsgid,
 * groups and tgid only change through its own system calls: the setuid family (the filter
 * notifies them when we are root: see rt_install_filter) and execve (always notified).
 * Each of those notifications starts a new generation, which drops every entry. An entry
 * also holds a pidfd of the thread (PIDFD_THREAD): while the pidfd's thread is alive, its
 * tid names nobody else, so a tid reused by another thread misses. One case escapes both:
 * execve from a thread that is not the leader takes over the leader's tid (and pid
 * struct) once the exec succeeds, after we answered; the leader's tid is then never cached
 * again. Without pidfd_open(PIDFD_THREAD) (Linux < 6.9, or refused by a seccomp profile)
 * there is no cache. */

#define CRED_SLOTS 64
#define NOCACHE_MAX 16

typedef struct {
    pid_t tid, tgid;
    int pidfd;          /* -1: empty slot */
    unsigned long gen;
    uid_t fsuid;
    gid_t fsgid;
    int ngroups;
    gid_t groups[MAX_GROUPS];
} cred_entry;

static cred_entry cred_cache[CRED_SLOTS];
static int cred_cache_on;              /* root supervisor with PIDFD_THREAD */
static unsigned long cred_gen = 1;
static pid_t nocache[NOCACHE_MAX];     /* leaders whose tid a sibling's exec may take */
static int n_nocache;

static void cred_cache_init(void)
{
    for (int i = 0; i < CRED_SLOTS; i++)
        cred_cache[i].pidfd = -1;
    if (!sup_root)
        return;
    long fd = syscall(__NR_pidfd_open, getpid(), PIDFD_THREAD);
    if (fd < 0) {
        LOG_TRACE("no credentials cache (pidfd_open: %s)", strerror(errno));
        return;
    }
    close((int)fd);
    cred_cache_on = 1;
}

/* Credentials may change (setuid family, setgroups, execve): forget every entry. */
static void cred_cache_invalidate(void)
{
    cred_gen++;
}

static void cred_cache_no_leader(pid_t tgid)
{
    for (int i = 0; i < n_nocache; i++)
        if (nocache[i] == tgid)
            return;
    if (tgid <= 0 || n_nocache == NOCACHE_MAX) {
        cred_cache_on = 0; /* cannot keep track: no cache from now on */
        return;
    }
    nocache[n_nocache++] = tgid;
}

static int pidfd_alive(int pidfd)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    return poll(&p, 1, 0) == 0;
}

static cred_entry *cred_slot(pid_t tid)
{
    return &cred_cache[(unsigned)tid % CRED_SLOTS];
}

static int cred_cache_get(call *c)
{
    cred_entry *e = cred_slot(c->tid);
    if (!cred_cache_on || e->pidfd < 0 || e->tid != c->tid || e->gen != cred_gen ||
        !pidfd_alive(e->pidfd))
        return 0;
    c->tgid = e->tgid;
    c->fsuid = e->fsuid;
    c->fsgid = e->fsgid;
    c->ngroups = e->ngroups;
    memcpy(c->groups, e->groups, sizeof(gid_t) * (size_t)e->ngroups);
    c->creds_ok = 1;
    return 1;
}

/* Read the thread's status and remember it. The pidfd is taken first and must still be
 * alive after the read: then the status read was that thread's. */
static int cred_cache_load(call *c)
{
    if (!cred_cache_on)
        return read_status(c);
    for (int i = 0; i < n_nocache; i++)
        if (nocache[i] == c->tid)
            return read_status(c);
    long pfd = syscall(__NR_pidfd_open, c->tid, PIDFD_THREAD);
    int e = read_status(c);
    if (e < 0 || pfd < 0 || !pidfd_alive((int)pfd)) {
        if (pfd >= 0)
            close((int)pfd);
        return e;
    }
    cred_entry *s = cred_slot(c->tid);
    if (s->pidfd >= 0)
        close(s->pidfd);
    s->tid = c->tid;
    s->tgid = c->tgid;
    s->pidfd = (int)pfd;
    s->gen = cred_gen;
    s->fsuid = c->fsuid;
    s->fsgid = c->fsgid;
    s->ngroups = c->ngroups;
    memcpy(s->groups, c->groups, sizeof(gid_t) * (size_t)c->ngroups);
    return 0;
}

/* Learn what acting for the app needs, before still_valid() (so that what was learnt is
 * known to be about the thread that asked): a root supervisor takes the app's
 * fsuid/fsgid/groups; creating a file needs the app's umask (read fresh, never cached); a
 * non-root supervisor's app (no_new_privs, same credentials at start) can only be checked
 * to still be us when it creates something. */
static int creds_load(call *c, int creating)
{
    if (creating)
        return c->umask_ok || read_status(c) == 0 ? 0 : -EACCES;
    if (!sup_root || c->creds_ok || cred_cache_get(c))
        return 0;
    return cred_cache_load(c) == 0 ? 0 : -EACCES;
}

/* Act with the application's file system identity while touching files for it. */
static int creds_enter(call *c, int creating)
{
    if (!sup_root && !creating)
        return 0;
    if (!c->creds_ok)
        return -EACCES;
    if (!sup_root) {
        if (c->fsuid != geteuid() || c->fsgid != getegid())
            return -EACCES; /* cannot act as someone else: fail closed */
        return 0;
    }
    if (c->fsuid == 0 && c->fsgid == 0)
        return 0;
    c->entered = 1;
    if (syscall(SYS_setgroups, (size_t)c->ngroups, c->groups) < 0)
        return -EACCES;
    setfsgid(c->fsgid);
    setfsuid(c->fsuid);
    if ((uid_t)setfsuid((uid_t)-1) != c->fsuid || (gid_t)setfsgid((gid_t)-1) != c->fsgid)
        return -EACCES;
    return 0;
}

static void creds_leave(call *c)
{
    if (!c->entered)
        return;
    c->entered = 0;
    setfsuid(0);
    setfsgid(0);
    syscall(SYS_setgroups, (size_t)sup_ngroups, sup_groups);
}

/* ---- decisions ---------------------------------------------------------------------- */

static const char *class_name(enum gsc_policy_class k)
{
    switch (k) {
    case GSC_PATH_TRUSTED: return "trusted";
    case GSC_PATH_ALLOWED: return "allowed";
    case GSC_PATH_TRUSTED_DIR: return "trusted dir";
    default: return "denied";
    }
}

static enum gsc_policy_class classify(const gsc_manifest *m, const rt_resolved *r,
                                      const gsc_trusted_file **t)
{
    *t = NULL;
    if (r->anon)
        return GSC_PATH_ALLOWED; /* only reachable via the app's own fds in /proc */
    char norm[PATH_MAX];
    if (gsc_path_normalise(r->path, norm, sizeof(norm)) != 0)
        return GSC_PATH_DENIED;
    return gsc_policy_classify(m, norm, t);
}

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

static void deny_log(const call *c, const char *what, const char *path, const char *why)
{
    LOG_ERR("policy: denied %s %s (pid %d): %s", what, path, (int)c->tid, why);
}

static void do_open(call *c, int dirfd, uint64_t path_addr, int flags, mode_t mode,
                    uint64_t rflags, const char *what)
{
    char path[PATH_MAX];
    int e = read_str(c, path_addr, path, sizeof(path));
    if (e < 0)
        return read_failed(c, e);
    int creating = (flags & O_CREAT) != 0;
    int mode_r = 0;
    if (!(flags & O_NOFOLLOW) && !(creating && (flags & O_EXCL)))
        mode_r |= RT_FOLLOW;
    int le = creds_load(c, creating || is_tmpfile(flags));
    /* What was read (path, credentials) is about the thread that asked only if its call
     * is still pending now. */
    if (!still_valid(c))
        return;
    if (le < 0)
        return respond(c, le, 0);
    if ((e = creds_enter(c, creating || is_tmpfile(flags))) < 0) {
        creds_leave(c);
        return respond(c, e, 0);
    }
    rt_resolved r;
    int attempts = 0;
again:
    e = rt_resolve(c->tid, c->tgid, dirfd, path, mode_r, rflags, &r);
    if (e < 0) {
        creds_leave(c);
        LOG_TRACE("policy: %s %s: lookup failed: %s", what, path, strerror(-e));
        return respond(c, e, 0);
    }
    const gsc_trusted_file *t;
    enum gsc_policy_class k = classify(c->m, &r, &t);
    int fd = -1, err = 0;
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
            /* A directory holding no trusted file (say an empty dist-packages that Python
             * probes at every start) is denied too, but only logged at warning level:
             * listing it could reveal names, never contents, and logging it at error
             * level would put noise on every start of common programs. */
            struct stat dst;
            if (fstat(r.fd, &dst) == 0 && S_ISDIR(dst.st_mode))
                LOG_WARN("policy: denied %s %s (pid %d): directory holds no trusted file",
                         what, r.path, (int)c->tid);
            else
                deny_log(c, what, r.path, "not a trusted or allowed file");
            err = -EACCES;
        }
    }
    if (err == 0 && r.fd < 0) {
        /* Creating a new name: only where writes are allowed. */
        if (!creating) {
            err = -ENOENT;
        } else if (k != GSC_PATH_ALLOWED) {
            deny_log(c, what, r.path, "cannot create files outside allowed paths");
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
            fd = r.fd;
            r.fd = -1;
        } else {
            err = -ELOOP;
        }
    } else if (err == 0 && creating && (flags & O_EXCL)) {
        err = -EEXIST;
    } else if (err == 0 && (flags & O_PATH)) {
        fd = r.fd; /* a handle without read or write access */
        r.fd = -1;
        note = "O_PATH";
    } else if (err == 0 && k == GSC_PATH_TRUSTED) {
        if (is_write(flags)) {
            deny_log(c, what, r.path, "trusted files are read-only");
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
            deny_log(c, what, r.path, "directories of trusted files may only be listed");
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
            deny_log(c, what, r.path, "refusing write access to a file with hard links");
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
    }
    creds_leave(c);
    if (err == 0 && fd >= 0) {
        LOG_DEBUG("policy: %s %s (%s%s%s): allowed (pid %d)", what, r.path, class_name(k),
                  note[0] ? ", " : "", note, (int)c->tid);
        rt_resolved_close(&r);
        inject(c, fd, (flags & O_CLOEXEC) != 0);
        return;
    }
    if (fd >= 0)
        close(fd);
    if (err == 0)
        err = -EACCES;
    LOG_DEBUG("policy: %s %s (%s): %s (pid %d)", what, r.path, class_name(k), strerror(-err),
              (int)c->tid);
    rt_resolved_close(&r);
    respond(c, err, 0);
}

/* ---- path-modifying calls ----------------------------------------------------------- */

enum { NOFOLLOW = 0, FOLLOW = 1, FOLLOW_UNLESS_NOFOLLOW = 2, FOLLOW_IF_FOLLOW = 3 };

typedef struct {
    int nr;
    const char *name;
    signed char npaths;
    signed char dfd[2];    /* arg index of the dirfd, -1: AT_FDCWD */
    signed char path[2];   /* arg index of the path */
    signed char follow[2];
    signed char flags;     /* arg index of AT_* flags, -1: none */
    signed char content;   /* changes file content (truncate) */
    signed char null_ok;   /* NULL path means the dirfd itself (utimensat, futimesat) */
} modspec;

static const modspec mods[] = {
    {__NR_truncate, "truncate", 1, {-1}, {0}, {FOLLOW}, -1, 1, 0},
    {__NR_rename, "rename", 2, {-1, -1}, {0, 1}, {NOFOLLOW, NOFOLLOW}, -1, 0, 0},
    {__NR_renameat, "renameat", 2, {0, 2}, {1, 3}, {NOFOLLOW, NOFOLLOW}, -1, 0, 0},
    {__NR_renameat2, "renameat2", 2, {0, 2}, {1, 3}, {NOFOLLOW, NOFOLLOW}, -1, 0, 0},
    {__NR_unlink, "unlink", 1, {-1}, {0}, {NOFOLLOW}, -1, 0, 0},
    {__NR_unlinkat, "unlinkat", 1, {0}, {1}, {NOFOLLOW}, -1, 0, 0},
    {__NR_link, "link", 2, {-1, -1}, {0, 1}, {NOFOLLOW, NOFOLLOW}, -1, 0, 0},
    {__NR_linkat, "linkat", 2, {0, 2}, {1, 3}, {FOLLOW_IF_FOLLOW, NOFOLLOW}, 4, 0, 0},
    {__NR_symlink, "symlink", 1, {-1}, {1}, {NOFOLLOW}, -1, 0, 0},
    {__NR_symlinkat, "symlinkat", 1, {1}, {2}, {NOFOLLOW}, -1, 0, 0},
    {__NR_mkdir, "mkdir", 1, {-1}, {0}, {NOFOLLOW}, -1, 0, 0},
    {__NR_mkdirat, "mkdirat", 1, {0}, {1}, {NOFOLLOW}, -1, 0, 0},
    {__NR_rmdir, "rmdir", 1, {-1}, {0}, {NOFOLLOW}, -1, 0, 0},
    {__NR_chmod, "chmod", 1, {-1}, {0}, {FOLLOW}, -1, 0, 0},
    {__NR_fchmodat, "fchmodat", 1, {0}, {1}, {FOLLOW}, -1, 0, 0},
    {__NR_fchmodat2, "fchmodat2", 1, {0}, {1}, {FOLLOW_UNLESS_NOFOLLOW}, 3, 0, 0},
    {__NR_chown, "chown", 1, {-1}, {0}, {FOLLOW}, -1, 0, 0},
    {__NR_lchown, "lchown", 1, {-1}, {0}, {NOFOLLOW}, -1, 0, 0},
    {__NR_fchownat, "fchownat", 1, {0}, {1}, {FOLLOW_UNLESS_NOFOLLOW}, 4, 0, 0},
    {__NR_mknod, "mknod", 1, {-1}, {0}, {NOFOLLOW}, -1, 0, 0},
    {__NR_mknodat, "mknodat", 1, {0}, {1}, {NOFOLLOW}, -1, 0, 0},
    {__NR_utime, "utime", 1, {-1}, {0}, {FOLLOW}, -1, 0, 0},
    {__NR_utimes, "utimes", 1, {-1}, {0}, {FOLLOW}, -1, 0, 0},
    {__NR_futimesat, "futimesat", 1, {0}, {1}, {FOLLOW}, -1, 0, 1},
    {__NR_utimensat, "utimensat", 1, {0}, {1}, {FOLLOW_UNLESS_NOFOLLOW}, 3, 0, 1},
    {__NR_setxattr, "setxattr", 1, {-1}, {0}, {FOLLOW}, -1, 0, 0},
    {__NR_lsetxattr, "lsetxattr", 1, {-1}, {0}, {NOFOLLOW}, -1, 0, 0},
    {__NR_removexattr, "removexattr", 1, {-1}, {0}, {FOLLOW}, -1, 0, 0},
    {__NR_lremovexattr, "lremovexattr", 1, {-1}, {0}, {NOFOLLOW}, -1, 0, 0},
};

static void do_modify(call *c, const modspec *s, const uint64_t *args)
{
    char paths[2][PATH_MAX];
    int empty_ok[2] = {0, 0};
    unsigned long atflags = s->flags >= 0 ? (unsigned long)args[(int)s->flags] : 0;
    for (int i = 0; i < s->npaths; i++) {
        uint64_t addr = args[(int)s->path[i]];
        if (addr == 0 && s->null_ok) {
            paths[i][0] = 0;
            empty_ok[i] = 1;
            continue;
        }
        int e = read_str(c, addr, paths[i], sizeof(paths[i]));
        if (e < 0)
            return read_failed(c, e);
        if ((atflags & AT_EMPTY_PATH) && paths[i][0] == 0)
            empty_ok[i] = 1;
    }
    int e = creds_load(c, 0);
    if (!still_valid(c))
        return;
    if (e == 0)
        e = creds_enter(c, 0);
    if (e < 0) {
        creds_leave(c);
        return respond(c, e, 0);
    }
    for (int i = 0; i < s->npaths; i++) {
        int dirfd = s->dfd[i] < 0 ? AT_FDCWD : (int)(int32_t)args[(int)s->dfd[i]];
        int follow = s->follow[i] == FOLLOW ||
                     (s->follow[i] == FOLLOW_UNLESS_NOFOLLOW && !(atflags & AT_SYMLINK_NOFOLLOW)) ||
                     (s->follow[i] == FOLLOW_IF_FOLLOW && (atflags & AT_SYMLINK_FOLLOW));
        int mode = (follow ? RT_FOLLOW : 0) | (empty_ok[i] ? RT_EMPTY_OK : 0);
        rt_resolved r;
        e = rt_resolve(c->tid, c->tgid, dirfd, paths[i], mode, 0, &r);
        if (e < 0) {
            creds_leave(c);
            LOG_TRACE("policy: %s %s: lookup failed: %s", s->name, paths[i], strerror(-e));
            return respond(c, e, 0);
        }
        const gsc_trusted_file *t;
        enum gsc_policy_class k = classify(c->m, &r, &t);
        if (k == GSC_PATH_ALLOWED && s->content && r.fd >= 0) {
            struct stat st;
            if (fstat(r.fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink > 1) {
                deny_log(c, s->name, r.path, "refusing to change a file with hard links");
                rt_resolved_close(&r);
                creds_leave(c);
                return respond(c, -EACCES, 0);
            }
        }
        char norm[PATH_MAX];
        if (k == GSC_PATH_ALLOWED && !r.anon &&
            (gsc_path_normalise(r.path, norm, sizeof(norm)) != 0 ||
             gsc_policy_has_trusted_under(c->m, norm))) {
            /* e.g. renaming an allowed directory that holds trusted files */
            k = GSC_PATH_TRUSTED_DIR;
        }
        if (k != GSC_PATH_ALLOWED) {
            if (c->m->allow_all_but_log) {
                LOG_WARN("policy: allow_all_but_log: permitting %s %s (pid %d)", s->name,
                         r.path, (int)c->tid);
            } else {
                deny_log(c, s->name, r.path,
                         k == GSC_PATH_DENIED ? "not an allowed path"
                                              : "trusted files and directories are read-only");
                rt_resolved_close(&r);
                creds_leave(c);
                return respond(c, -EACCES, 0);
            }
        }
        LOG_DEBUG("policy: %s %s (%s): allowed (pid %d)", s->name, r.path, class_name(k),
                  (int)c->tid);
        rt_resolved_close(&r);
    }
    creds_leave(c);
    if (still_valid(c))
        respond(c, 0, 1);
}

static void do_exec(call *c, int dirfd, uint64_t path_addr, int atflags, const char *what)
{
    char path[PATH_MAX];
    int e = read_str(c, path_addr, path, sizeof(path));
    if (e < 0)
        return read_failed(c, e);
    e = creds_load(c, 0);
    if (!still_valid(c))
        return;
    /* A thread other than the leader takes over the leader's tid if the exec succeeds. */
    if (e == 0 && cred_cache_on && c->tgid != c->tid)
        cred_cache_no_leader(c->tgid);
    if (e < 0 || (e = creds_enter(c, 0)) < 0) {
        creds_leave(c);
        return respond(c, e, 0);
    }
    char why[PATH_MAX + 128];
    e = rt_exec_check(c->m, c->tid, c->tgid, dirfd, path, atflags, why, sizeof(why));
    creds_leave(c);
    if (e == -EACCES && c->m->allow_all_but_log) {
        LOG_WARN("policy: allow_all_but_log: permitting %s: %s (pid %d)", what, why,
                 (int)c->tid);
        e = 0;
    }
    if (e < 0) {
        if (e == -ENOENT)
            LOG_DEBUG("policy: %s %s: %s (pid %d)", what, path, strerror(ENOENT), (int)c->tid);
        else
            LOG_ERR("policy: denied %s (pid %d): %s", what, (int)c->tid, why);
        return respond(c, e, 0);
    }
    LOG_DEBUG("policy: %s %s: allowed (pid %d)", what, path, (int)c->tid);
    /* The exec changes credentials (fsuid follows euid again): forget cached ones. */
    cred_cache_invalidate();
    /* The kernel re-reads the path from the app's memory after we answer: see
     * docs/runtime.md ("residual races"). */
    if (still_valid(c))
        respond(c, 0, 1);
}

static void handle(const gsc_manifest *m, int nfd, const struct seccomp_notif *req)
{
    call c;
    memset(&c, 0, sizeof(c));
    c.m = m;
    c.nfd = nfd;
    c.id = req->id;
    c.tid = (pid_t)req->pid;
    c.tgid = 0; /* looked up lazily */
    c.memfd = -1;
    /* The pid in the notification is only meaningful while the notification is alive:
     * every path below checks still_valid() after reading from the app and before acting
     * on what it read. */
    uint64_t a[6];
    for (int i = 0; i < 6; i++)
        a[i] = (uint64_t)req->data.args[i];
    int nr = req->data.nr;
    switch (nr) {
    case __NR_open:
        do_open(&c, AT_FDCWD, a[0], (int)a[1], (mode_t)a[2], 0, "open");
        break;
    case __NR_openat:
        do_open(&c, (int)(int32_t)a[0], a[1], (int)a[2], (mode_t)a[3], 0, "open");
        break;
    case __NR_creat:
        do_open(&c, AT_FDCWD, a[0], O_CREAT | O_WRONLY | O_TRUNC, (mode_t)a[1], 0, "open");
        break;
    case __NR_openat2: {
        struct open_how how;
        memset(&how, 0, sizeof(how));
        if (a[3] < sizeof(how)) {
            respond(&c, -EINVAL, 0);
            break;
        }
        int e = read_mem(&c, a[2], &how, sizeof(how));
        if (e < 0) {
            read_failed(&c, e);
            break;
        }
        if (a[3] > sizeof(how)) {
            /* The kernel demands unknown trailing bytes be zero; so do we. */
            unsigned char extra[256];
            size_t n = a[3] - sizeof(how);
            if (n > sizeof(extra)) {
                respond(&c, -E2BIG, 0);
                break;
            }
            if ((e = read_mem(&c, a[2] + sizeof(how), extra, n)) < 0) {
                read_failed(&c, e);
                break;
            }
            int nz = 0;
            for (size_t i = 0; i < n; i++)
                nz |= extra[i];
            if (nz) {
                respond(&c, -E2BIG, 0);
                break;
            }
        }
        if (how.flags > 0xffffffffULL || how.mode > 07777 ||
            (how.resolve & ~(uint64_t)(RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS |
                                       RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH |
                                       RESOLVE_IN_ROOT | RESOLVE_CACHED))) {
            respond(&c, -EINVAL, 0);
            break;
        }
        do_open(&c, (int)(int32_t)a[0], a[1], (int)how.flags, (mode_t)how.mode,
                how.resolve & ~(uint64_t)RESOLVE_CACHED, "open");
        break;
    }
    case __NR_execve:
        do_exec(&c, AT_FDCWD, a[0], 0, "execve");
        break;
    case __NR_execveat:
        do_exec(&c, (int)(int32_t)a[0], a[1], (int)a[4], "execveat");
        break;
    case __NR_setuid:
    case __NR_setgid:
    case __NR_setreuid:
    case __NR_setregid:
    case __NR_setresuid:
    case __NR_setresgid:
    case __NR_setfsuid:
    case __NR_setfsgid:
    case __NR_setgroups:
        /* Only notified when we are root (the credentials cache): the kernel decides,
         * what we cached about this thread may be stale from now on. */
        cred_cache_invalidate();
        respond(&c, 0, 1);
        break;
    default: {
        const modspec *s = NULL;
        for (size_t i = 0; i < sizeof(mods) / sizeof(mods[0]); i++)
            if (mods[i].nr == nr)
                s = &mods[i];
        if (s)
            do_modify(&c, s, a);
        else
            respond(&c, -ENOSYS, 0); /* filter and supervisor disagree: fail closed */
    }
    }
    if (c.memfd >= 0)
        close(c.memfd);
}

/* ---- the loop ----------------------------------------------------------------------- */

static int status_code(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return 1;
}

int rt_supervise(const gsc_manifest *m, int notify_fd, int sigfd, pid_t app)
{
    sup_root = geteuid() == 0;
    int ng = getgroups(MAX_GROUPS, sup_groups);
    sup_ngroups = ng < 0 ? 0 : ng;
    cred_cache_init();
    umask(077);

    struct seccomp_notif_sizes sizes;
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0) {
        LOG_ERR("seccomp notification sizes unavailable: %s", strerror(errno));
        sizes.seccomp_notif = sizeof(struct seccomp_notif);
    }
    size_t reqsize = sizes.seccomp_notif > sizeof(struct seccomp_notif)
                         ? sizes.seccomp_notif
                         : sizeof(struct seccomp_notif);
    struct seccomp_notif *req = rt_xcalloc(1, reqsize);
    /* Linux >= 6.6: the app thread that asks and the supervisor that answers wake each
     * other on the current CPU (a synchronous hand-off, no cross-CPU wake-up). Only a
     * scheduling hint: without it (older kernels) everything works the same, slower. */
    if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) < 0)
        LOG_TRACE("seccomp synchronous wake-up unavailable: %s", strerror(errno));

    int app_status = -1;
    while (app_status < 0) {
        struct pollfd pfd[2] = {{.fd = sigfd, .events = POLLIN},
                                {.fd = notify_fd, .events = POLLIN}};
        int r = poll(pfd, notify_fd >= 0 ? 2 : 1, -1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            LOG_ERR("poll: %s", strerror(errno));
            break;
        }
        if (notify_fd >= 0 && (pfd[1].revents & POLLIN)) {
            memset(req, 0, reqsize);
            if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_RECV, req) == 0)
                handle(m, notify_fd, req);
            else if (errno != EINTR && errno != ENOENT)
                LOG_WARN("seccomp receive: %s", strerror(errno));
        } else if (notify_fd >= 0 && (pfd[1].revents & (POLLHUP | POLLERR | POLLNVAL))) {
            close(notify_fd); /* no filtered task is left */
            notify_fd = -1;
        }
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGCHLD)
                    continue;
                LOG_DEBUG("forwarding signal %u to pid %d", si.ssi_signo, (int)app);
                kill(app, (int)si.ssi_signo);
            }
            /* Reap everything: the app and any orphan re-parented to us. */
            for (;;) {
                int st;
                pid_t p = waitpid(-1, &st, WNOHANG);
                if (p <= 0)
                    break;
                if (p == app) {
                    app_status = status_code(st);
                    LOG_DEBUG("application exited with status %d", app_status);
                }
            }
        }
    }
    free(req);
    return app_status < 0 ? 1 : app_status;
}
