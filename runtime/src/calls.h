/* The policed system calls, each declared once (calls.c). The table drives the seccomp
 * filter (filter.c: which calls are notified, refused or pid-guarded, under which argument
 * condition), the supervisor's dispatch (supervisor.c) and the list of path-modifying
 * calls (notified only in the weak mode without Landlock, where the supervisor is the
 * only check). */
#ifndef GSC_RT_CALLS_H
#define GSC_RT_CALLS_H

#include <stddef.h>
#include <stdint.h>

#include "notif.h"

typedef struct rt_callspec rt_callspec;
typedef void (*rt_handler)(call *c, const rt_callspec *s, const uint64_t *args);

enum rt_action {
    RT_NOTIFY = 1,   /* SECCOMP_RET_USER_NOTIF: handler decides */
    RT_REFUSE,       /* SECCOMP_RET_ERRNO err */
    RT_PIDGUARD,     /* refused (EPERM) when args[arg] names the supervisor */
};

#define RT_F_PATHMOD 1u   /* changes the file system namespace or metadata */
#define RT_F_ROOT 4u      /* notified only when the supervisor runs as root */
#define RT_F_OPEN 8u      /* an open: not notified when verification ran at launch and no
                             open needs the supervisor (rt_opens_needed) */

/* How a path-modifying call names its paths. */
enum { RT_NOFOLLOW = 0, RT_FOLLOWS = 1, RT_FOLLOW_UNLESS_NOFOLLOW = 2, RT_FOLLOW_IF_FOLLOW = 3 };
typedef struct {
    signed char npaths;
    signed char dfd[2];    /* arg index of the dirfd, -1: AT_FDCWD */
    signed char path[2];   /* arg index of the path */
    signed char follow[2];
    signed char flags;     /* arg index of AT_* flags, -1: none */
    signed char content;   /* changes file content (truncate) */
    signed char null_ok;   /* NULL path means the dirfd itself (utimensat, futimesat) */
} rt_modargs;

struct rt_callspec {
    int nr;
    const char *name;
    enum rt_action action;
    unsigned flags;
    rt_handler fn;         /* RT_NOTIFY */
    int err;               /* RT_REFUSE */
    int arg;               /* RT_PIDGUARD: the pid argument */
    /* RT_NOTIFY only when (args[set_arg] & set_mask) != 0 and (args[clear_arg] &
     * clear_mask) == 0 (low 32 bits; -1: no condition). */
    signed char set_arg, clear_arg;
    uint32_t set_mask, clear_mask;
    rt_modargs mod;        /* RT_F_PATHMOD */
};

extern const rt_callspec rt_calls[];
extern const size_t rt_ncalls;

/* Is this call notified for an app started with these settings? */
/* Is s notified? sup_root: the supervisor runs as root; opens: the open family is
 * (rt_opens_needed). */
int rt_call_notified(const rt_callspec *s, int sup_root, int opens);
/* The table entry for a system call number, or NULL. */
const rt_callspec *rt_call_lookup(int nr);

/* Handlers (h_*.c). */
void rt_h_open(call *c, const rt_callspec *s, const uint64_t *a);
void rt_h_modify(call *c, const rt_callspec *s, const uint64_t *a);
void rt_h_exec(call *c, const rt_callspec *s, const uint64_t *a);
/* Answer the execs waiting for the verifier, if it got far enough. */
void rt_exec_flush(int nfd, const gsc_manifest *m);
void rt_h_creds(call *c, const rt_callspec *s, const uint64_t *a);
void rt_h_mmap(call *c, const rt_callspec *s, const uint64_t *a);
void rt_h_connect(call *c, const rt_callspec *s, const uint64_t *a);

#endif
