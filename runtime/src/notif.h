/* One seccomp notification being handled: reading the application's memory, answering
 * (error, CONTINUE, or an injected descriptor). Shared by every handler. */
#ifndef GSC_RT_NOTIF_H
#define GSC_RT_NOTIF_H

#include <stdint.h>
#include <sys/types.h>

#include "../core/manifest.h"

#define MAX_GROUPS 256

typedef struct {
    const gsc_manifest *m;
    int nfd;
    uint64_t id;
    pid_t tid, tgid;
    int memfd;          /* /proc/TID/mem, only opened when process_vm_readv cannot be used */
    int memfd_borrowed; /* memfd belongs to the per-process cache (creds.c): do not close */
    int vm_eperm;       /* process_vm_readv said EPERM */
    int answered;       /* a reply was sent (or the call is gone) */
    /* the application thread's credentials (from /proc/TID/status or the cache) */
    uid_t fsuid, euid;
    gid_t fsgid, egid;
    mode_t umask;
    gid_t groups[MAX_GROUPS];
    int ngroups;
    int creds_ok;       /* fsuid, fsgid, groups, tgid known */
    int umask_ok;       /* umask known (read fresh: it is not cached) */
    int entered;        /* creds_enter changed our file system identity */
} call;

void rt_call_init(call *c, const gsc_manifest *m, int nfd, uint64_t id, pid_t tid);
/* Close what the call holds (memory fd). */
void rt_call_done(call *c);

/* Answer: err (negative errno) or, with cont, let the kernel run the call. */
void rt_respond(call *c, int err, int cont);
int rt_still_valid(const call *c);
/* Hand fd to the app as the result of its open (SECCOMP_ADDFD_FLAG_SEND); closes fd. */
void rt_inject(call *c, int fd, int cloexec);

/* pidfd_getfd works here (not refused by a seccomp profile such as Docker's default). */
int rt_getfd_usable(void);

/* Read app memory: 0, -EFAULT (bad address), -EACCES (cannot inspect the thread). */
int rt_read_mem(call *c, uint64_t addr, void *out, size_t len);
int rt_read_str(call *c, uint64_t addr, char *out, size_t outlen);
/* A read failed: answer e (unless the call is gone); says once per process when it cannot
 * be inspected. */
void rt_read_failed(call *c, int e);

/* Take the global process_vm_readv fallback decision into account (creds.c). */
extern int rt_vm_readv_ok;

#endif
