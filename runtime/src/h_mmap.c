/* mmap / mprotect / pkey_mprotect with PROT_EXEC of a file mapping (the filter only
 * notifies those; anonymous executable memory runs natively: JITs need it). Allowed only
 * when the file is a verified trusted file, by identity (device, inode) in the trusted-file
 * table. This stops the dynamic loader run as a program on an untrusted file, LD_PRELOAD
 * or ld.so.preload naming files outside the trusted set, and mmap(PROT_EXEC) of allowed
 * files. Residual (docs/runtime.md): a second thread may swap the descriptor (mmap) or the
 * mapping (mprotect) after the check; that needs code already running in the process,
 * which could as well copy bytes into anonymous executable memory: the check guards
 * against steering trusted code into running untrusted files, not against code that
 * already runs. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "calls.h"
#include "creds.h"
#include "log.h"
#include "phase.h"
#include "ratelog.h"
#include "trust.h"

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

#define MAX_VMAS 64

typedef struct {
    dev_t dev;
    ino_t ino;
    int anon;
} ident;

/* The app's descriptor fd: pidfd_getfd (one call), else stat of /proc/TID/fd/N (also as
 * the process's owner when it runs as another user and is dumpable: the kernel checks
 * ptrace access with our file system ids; a non-dumpable process of another user cannot
 * be inspected without CAP_SYS_PTRACE: -EACCES, the mapping is refused). 0 or -errno. */
static int fd_ident(call *c, int fd, ident *out)
{
    struct stat st;
    /* Refused by a seccomp profile (Docker's default without CAP_SYS_PTRACE): /proc only. */
    long pfd = rt_getfd_usable() ? syscall(__NR_pidfd_open, c->tid, PIDFD_THREAD) : -1;
    if (pfd >= 0) {
        long g = syscall(__NR_pidfd_getfd, (int)pfd, fd, 0);
        close((int)pfd);
        if (g >= 0) {
            int r = fstat((int)g, &st);
            close((int)g);
            if (r == 0)
                goto ok;
        } else if (errno == EBADF) {
            return -EBADF;
        }
    }
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/fd/%d", (int)c->tid, fd);
    if (stat(p, &st) < 0) {
        uid_t u;
        gid_t gg;
        if (errno == ENOENT)
            return -EBADF;
        if (!rt_sup_root() || rt_owner_ids(c, &u, &gg) < 0)
            return -EACCES;
        setfsgid(gg);
        setfsuid(u);
        int r = stat(p, &st);
        setfsuid(0);
        setfsgid(getegid());
        if (r < 0)
            return -EACCES;
    }
ok:
    out->dev = st.st_dev;
    out->ino = st.st_ino;
    out->anon = 0;
    return 0;
}

/* The files mapped in [addr, addr+len) of the thread's process, from /proc/TID/maps. */
static int vma_idents(call *c, uint64_t addr, uint64_t len, ident *out, int max)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/maps", (int)c->tid);
    FILE *f = fopen(p, "re");
    if (!f)
        return -EACCES;
    char line[4096 + 128];
    int n = 0;
    uint64_t end = addr + len;
    while (fgets(line, sizeof(line), f)) {
        uint64_t s, e, off, ino;
        unsigned maj, mnr;
        char perms[8];
        if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %x:%x %" SCNu64, &s, &e,
                   perms, &off, &maj, &mnr, &ino) != 7)
            continue;
        if (e <= addr || s >= end)
            continue;
        if (n == max) {
            fclose(f);
            return -ENOMEM;
        }
        out[n].anon = ino == 0;
        out[n].dev = makedev(maj, mnr);
        out[n].ino = (ino_t)ino;
        n++;
    }
    fclose(f);
    return n;
}

/* 1 when this identity is a trusted file whose content is verified (now, if need be).
 * Identities are recorded as files match their hash (the verifier, or the supervisor's
 * opens and exec checks for the app: the only ways the app gets a descriptor of a trusted
 * file before phase 2); one the verifier has not reached yet is verified on the spot. */
static int verified_trusted(const gsc_manifest *m, const ident *id, const char **path)
{
    gsc_ttable *t = rt_phase_table();
    gsc_tt_entry *e = t ? gsc_ttable_find(t, id->dev, id->ino) : NULL;
    *path = NULL;
    if (!e)
        return 0;
    *path = m->trusted[e->index].path;
    if (e->state == GSC_TT_VERIFIED)
        return 1;
    if (e->state == GSC_TT_FAILED)
        return 0;
    int fd = gsc_ttable_open(t, m, e);
    if (fd < 0)
        return 0;
    struct stat st;
    int r = fstat(fd, &st) == 0 && st.st_dev == id->dev && st.st_ino == id->ino
                ? rt_trust_verify(&m->trusted[e->index], fd)
                : -EACCES;
    close(fd);
    if (r == 0) {
        gsc_ttable_verified(t, e->index, id->dev, id->ino, 1);
        return e->state == GSC_TT_VERIFIED;
    }
    if (r == -EPERM)
        rt_phase_failure(&m->trusted[e->index]);
    return 0;
}

void rt_h_mmap(call *c, const rt_callspec *s, const uint64_t *a)
{
    ident ids[MAX_VMAS];
    int n;
    if (s->nr == __NR_mmap) {
        int e = fd_ident(c, (int)(int32_t)a[4], &ids[0]);
        n = e < 0 ? e : 1;
    } else {
        n = vma_idents(c, a[0], a[1], ids, MAX_VMAS);
    }
    if (!rt_still_valid(c)) {
        c->answered = 1;
        return;
    }
    if (n == -EBADF)
        return rt_respond(c, -EBADF, 0); /* what the kernel would say */
    if (n < 0) {
        if (n == -EACCES)
            rt_note_uninspectable(c->tid);
        return rt_respond(c, -EACCES, 0);
    }
    for (int i = 0; i < n; i++) {
        if (ids[i].anon)
            continue;
        const char *path;
        if (verified_trusted(c->m, &ids[i], &path))
            continue;
        char what[64];
        snprintf(what, sizeof(what), "dev %u:%u inode %lu", major(ids[i].dev),
                 minor(ids[i].dev), (unsigned long)ids[i].ino);
        const char *name = path ? path : what;
        if (c->m->allow_all_but_log) {
            LOG_WARN("policy: allow_all_but_log: permitting %s PROT_EXEC of %s (pid %d)",
                     s->name, name, (int)c->tid);
            continue;
        }
        rt_log(rt_first_denial(name) ? GSC_LOG_ERROR : GSC_LOG_DEBUG,
               "policy: denied %s PROT_EXEC of %s (pid %d): %s", s->name, name, (int)c->tid,
               path ? "trusted file failed verification" : "not a trusted file");
        return rt_respond(c, -EACCES, 0);
    }
    rt_respond(c, 0, 1);
}
