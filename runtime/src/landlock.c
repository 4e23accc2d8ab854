#include "landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../core/policy.h"
#include "log.h"
#include "nscheck.h"
#include "util.h"

/* Our own copies of the uapi (bookworm's <linux/landlock.h> predates ABI 3..6). */
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif
#ifndef __NR_openat2
#define __NR_openat2 437
#endif

#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1

#define LL_EXECUTE (1ULL << 0)
#define LL_WRITE_FILE (1ULL << 1)
#define LL_READ_FILE (1ULL << 2)
#define LL_READ_DIR (1ULL << 3)
#define LL_REMOVE_DIR (1ULL << 4)
#define LL_REMOVE_FILE (1ULL << 5)
#define LL_MAKE_CHAR (1ULL << 6)
#define LL_MAKE_DIR (1ULL << 7)
#define LL_MAKE_REG (1ULL << 8)
#define LL_MAKE_SOCK (1ULL << 9)
#define LL_MAKE_FIFO (1ULL << 10)
#define LL_MAKE_BLOCK (1ULL << 11)
#define LL_MAKE_SYM (1ULL << 12)
#define LL_REFER (1ULL << 13)     /* ABI 2 */
#define LL_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define LL_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)               /* ABI 6 */

/* Rights that may be granted on a non-directory. */
#define LL_FILE_RIGHTS (LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | LL_TRUNCATE | LL_IOCTL_DEV)

struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

int gsc_landlock_active;
gsc_ttable *gsc_rt_ttable;

static uint64_t handled_for(int abi)
{
    uint64_t h = (LL_MAKE_SYM << 1) - 1; /* ABI 1: bits 0..12 */
    if (abi >= 2)
        h |= LL_REFER;
    if (abi >= 3)
        h |= LL_TRUNCATE;
    if (abi >= 5)
        h |= LL_IOCTL_DEV;
    return h;
}

static int add_rule(int rfd, int fd, uint64_t access, int is_dir, uint64_t handled)
{
    struct ll_path_beneath_attr pb = {
        .allowed_access = access & handled & (is_dir ? ~0ULL : LL_FILE_RIGHTS),
        .parent_fd = fd,
    };
    if (!pb.allowed_access)
        return 0;
    return (int)syscall(__NR_landlock_add_rule, rfd, LL_RULE_PATH_BENEATH, &pb, 0);
}

typedef struct {
    int rfd;
    uint64_t handled;
} file_rule_ctx;

/* gsc_ttable_hook: the rule of one trusted file (READ_FILE, + EXECUTE with an x bit). */
static int file_rule(void *ctx, const gsc_tt_entry *e)
{
    const file_rule_ctx *c = ctx;
    uint64_t acc = LL_READ_FILE | (e->executable ? LL_EXECUTE : 0);
    return add_rule(c->rfd, e->fd, acc, 0, c->handled) < 0 ? -errno : 0;
}

static long open_path(const char *path, int follow)
{
    struct open_how how = {
        .flags = O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW),
        .resolve = RESOLVE_NO_MAGICLINKS | (follow ? 0 : RESOLVE_NO_SYMLINKS),
    };
    return syscall(__NR_openat2, AT_FDCWD, path, &how, sizeof how);
}

/* An allowed or read-only path (followed through symlinks: /var/run -> /run is common)
 * must not end in a place that holds trusted files: the rule would make them writable, or
 * everything beside them readable. access: the rights granted beneath it. */
static int path_rule(const gsc_manifest *m, int rfd, uint64_t handled, uint64_t access,
                     const char *kind, const char *path, size_t *nrules, char *err,
                     size_t errlen)
{
    long fd = open_path(path, 1);
    if (fd < 0)
        return 0; /* missing: nothing to attach a rule to */
    char proc[64], real[PATH_MAX + 1], norm[PATH_MAX + 1];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", (int)fd);
    ssize_t n = readlink(proc, real, sizeof real - 1);
    if (n <= 0) {
        close((int)fd);
        snprintf(err, errlen, "%s path %s: cannot read where it leads", kind, path);
        return -1;
    }
    real[n] = 0;
    if (real[0] == '/' && gsc_path_normalise(real, norm, sizeof norm) == 0 &&
        !gsc_policy_is_container_file(norm) && gsc_policy_has_trusted_under(m, norm)) {
        close((int)fd);
        snprintf(err, errlen, "%s path %s leads to %s, which holds trusted files or "
                 "pinned names", kind, path, norm);
        return -1;
    }
    struct stat st;
    int r = fstat((int)fd, &st) == 0
                ? add_rule(rfd, (int)fd, access, S_ISDIR(st.st_mode), handled)
                : -1;
    int e = errno;
    close((int)fd);
    if (r < 0) {
        snprintf(err, errlen, "Landlock rule for %s path %s: %s", kind, path, strerror(e));
        return -1;
    }
    (*nrules)++;
    return 0;
}

static int probe_abi(void)
{
    long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
    return abi < 0 ? 0 : (int)abi;
}

int gsc_landlock_prepare(const gsc_manifest *m, const gsc_nswalk *w, gsc_lock *out, char *err,
                         size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->ruleset_fd = -1;
    gsc_landlock_active = 0;
    out->abi = probe_abi();
    int weak = out->abi < 3;
    if (weak && !m->allow_no_landlock) {
        if (out->abi == 0)
            snprintf(err, errlen, "Landlock ABI >= 3 is required (Landlock is not available: "
                     "%s)", strerror(errno));
        else
            snprintf(err, errlen, "Landlock ABI >= 3 is required (the kernel has ABI %d)",
                     out->abi);
        return -1;
    }
    /* Audit mode (sgx.file_check_policy = "allow_all_but_log", debug enclaves or an
     * explicit build flag only) enforces nothing: no Landlock domain, the supervisor sees
     * and permits every policed call with a log line. */
    int audit = m->allow_all_but_log && !weak;
    if (audit)
        weak = 1;
    uint64_t handled = handled_for(out->abi);
    if (!weak) {
        struct ll_ruleset_attr attr = {
            .handled_access_fs = handled,
            .scoped = out->abi >= 6 ? (LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL) : 0,
        };
        size_t attr_size =
            out->abi >= 6 ? sizeof attr : offsetof(struct ll_ruleset_attr, scoped);
        long rfd = syscall(__NR_landlock_create_ruleset, &attr, attr_size, 0);
        if (rfd < 0) {
            snprintf(err, errlen, "cannot create the Landlock ruleset: %s", strerror(errno));
            return -1;
        }
        out->ruleset_fd = (int)rfd;
    }
    /* trusted files: each rule is added on the descriptor the table just opened (no
     * symlink on the way), by whichever thread opened it */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    file_rule_ctx fc = {.rfd = out->ruleset_fd, .handled = handled};
    if (gsc_ttable_build(m, w, &out->tt, weak ? NULL : file_rule, &fc, err, errlen) < 0) {
        if (out->ruleset_fd >= 0)
            close(out->ruleset_fd);
        out->ruleset_fd = -1;
        return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    out->table_ms =
        (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    gsc_rt_ttable = &out->tt;
    if (weak)
        return 0; /* the caller warns, once the manifest is verified */
    out->nrules = out->tt.nid;
    /* trusted directories: listing only (the descriptors the namespace check opened,
     * without following any symlink; absent ones get no rule). A whole directory
     * (nscheck.h: its launch listing holds only trusted files, pinned symlinks and whole
     * directories) at the top of its subtree gets READ_FILE too, for everything beneath
     * it; its whole subdirectories need no rule of their own. Nothing can be created in
     * a trusted directory (no MAKE_* right anywhere in it), so what the listing proved is
     * what the rule reaches, as long as nothing outside the app adds files. */
    for (size_t i = 0; i < w->n; i++) {
        if (w->d[i].fd < 0)
            continue;
        uint64_t acc = LL_READ_DIR;
        if (w->d[i].whole) {
            size_t p = w->d[i].parent;
            if (p != SIZE_MAX && w->d[p].whole)
                continue; /* covered by its parent's rule */
            acc |= LL_READ_FILE;
            out->ndirrules++;
        }
        if (add_rule(out->ruleset_fd, w->d[i].fd, acc, 1, handled) < 0) {
            snprintf(err, errlen, "Landlock rule for trusted directory %.*s: %s",
                     (int)w->d[i].len, w->d[i].path, strerror(errno));
            return -1;
        }
        out->nrules++;
    }
    /* allowed paths and tmpfs mounts: everything but EXECUTE */
    uint64_t rw = handled & ~LL_EXECUTE;
    for (size_t i = 0; i < m->nallowed; i++)
        if (!gsc_policy_is_container_file(m->allowed[i]) &&
            path_rule(m, out->ruleset_fd, handled, rw, "allowed", m->allowed[i],
                      &out->nrules, err, errlen) < 0)
            return -1;
    for (size_t i = 0; i < m->ntmpfs; i++)
        if (path_rule(m, out->ruleset_fd, handled, rw, "allowed", m->tmpfs[i], &out->nrules,
                      err, errlen) < 0)
            return -1;
    /* read-only paths (gsc.readonly_files): read and list beneath, nothing else */
    for (size_t i = 0; i < m->nreadonly; i++)
        if (!gsc_policy_is_container_file(m->readonly[i]) &&
            path_rule(m, out->ruleset_fd, handled, LL_READ_FILE | LL_READ_DIR, "read-only",
                      m->readonly[i], &out->nrules, err, errlen) < 0)
            return -1;
    /* Docker's per-container files: read-only, only when they are what they seem (a
     * symlink there is not followed: no rule, so the image cannot steer this one) */
    static const char *const cfiles[] = {"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"};
    for (size_t i = 0; i < sizeof cfiles / sizeof cfiles[0]; i++) {
        long fd = open_path(cfiles[i], 0);
        if (fd < 0)
            continue;
        struct stat st;
        if (fstat((int)fd, &st) == 0 && S_ISREG(st.st_mode) &&
            add_rule(out->ruleset_fd, (int)fd, LL_READ_FILE, 0, handled) == 0)
            out->nrules++;
        close((int)fd);
    }
    gsc_landlock_active = 1;
    return 0;
}

int gsc_landlock_enforce(const gsc_lock *l)
{
    if (l->ruleset_fd < 0)
        return 0;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    if (syscall(__NR_landlock_restrict_self, l->ruleset_fd, 0) < 0)
        return -errno;
    close(l->ruleset_fd);
    return 0;
}
