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
