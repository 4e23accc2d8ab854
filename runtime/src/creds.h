/* The application threads' credentials, as the supervisor needs them to act for them (a
 * root supervisor opens files with the thread's fsuid/fsgid/groups), with a cache
 * invalidated by every notified credential change and exec; and the per-process memory
 * descriptors that keep a process inspectable after it drops privileges (issue 10). */
#ifndef GSC_RT_CREDS_H
#define GSC_RT_CREDS_H

#include "notif.h"

/* Once, before the first notification. */
void rt_creds_init(void);
int rt_sup_root(void);

/* Learn what acting for the app needs (before rt_still_valid): 0 or -EACCES. creating:
 * the umask is needed too (read fresh, never cached). */
int rt_creds_load(call *c, int creating);
/* Act with the app's file system identity while touching files for it; always pair with
 * rt_creds_leave (also on failure). */
int rt_creds_enter(call *c, int creating);
void rt_creds_leave(call *c);

/* The app thread's whole identity as a peer sees it (effective ids, groups) and as
 * permission checks see it (file system ids), for acting as the app in a connect: the
 * listener's SO_PEERCRED/SO_PEERGROUPS then show the app's ids (its pid is ours). */
typedef struct {
    int set;            /* 0: act as ourselves (non-root supervisor, or root app) */
    uid_t euid, fsuid;
    gid_t egid, fsgid;
    int ngroups;
    gid_t groups[MAX_GROUPS];
} rt_identity;
/* From a call whose credentials were loaded (rt_creds_load): 0 or -EACCES. */
int rt_identity_of(const call *c, rt_identity *out);
/* Take id in the calling thread only (raw system calls: other threads keep theirs); the
 * saved uid stays 0 so rt_identity_leave can come back. 0 or -EACCES (then still call
 * rt_identity_leave). */
int rt_identity_enter(const rt_identity *id);
/* Back to the supervisor's own identity: 0, or -1 when that failed (the caller must not
 * go on acting in this thread). */
int rt_identity_leave(const rt_identity *id);

/* A thread may change its credentials from now on (setuid family): forget cached ones. */
void rt_creds_invalidate(void);
/* execve from a thread other than its leader: the leader's tid changes hands. */
void rt_creds_exec(pid_t tid, pid_t tgid);

/* Memory descriptors. A /proc/PID/mem descriptor is checked for ptrace access when it is
 * opened, not when it is read, and it reads the address space it was opened for (until
 * exec replaces it). rt_memfd_pin opens and keeps one for the calling process while it is
 * still inspectable (called on its setuid-family notification, before it runs);
 * rt_memfd_get returns the kept one for c's process (or opens one with the process's own
 * credentials when it is dumpable but runs as another user), -1 if none. */
void rt_memfd_pin(call *c);
int rt_memfd_get(call *c);
/* The process execs: its address space (and what a kept descriptor reads) goes away. */
void rt_memfd_forget(pid_t tgid);

/* The thread's uid and gid when it is not root and its real, effective and saved ids agree
 * (acting with them passes the kernel's ptrace access checks on it): 0, else -1. */
int rt_owner_ids(call *c, uid_t *uid, gid_t *gid);

#endif
