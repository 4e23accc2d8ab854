/* execve, execveat. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/syscall.h>

#include "calls.h"
#include "decide.h"
#include "creds.h"
#include "exec.h"
#include "log.h"

static void do_exec(call *c, int dirfd, uint64_t path_addr, int atflags, const char *what)
{
    char path[PATH_MAX];
    int e = rt_read_str(c, path_addr, path, sizeof(path));
    if (e < 0)
        return rt_read_failed(c, e);
    e = rt_creds_load(c, 0);
    if (!rt_still_valid(c))
        return;
    if (e < 0 || (e = rt_creds_enter(c, 0)) < 0) {
        rt_creds_leave(c);
        return rt_respond(c, e, 0);
    }
    char why[PATH_MAX + 128];
    e = rt_exec_check(c->m, c->tid, c->tgid, dirfd, path, atflags, why, sizeof(why));
    rt_creds_leave(c);
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
        return rt_respond(c, e, 0);
    }
    LOG_DEBUG("policy: %s %s: allowed (pid %d)", what, path, (int)c->tid);
    /* The exec changes credentials (fsuid follows euid again) and the address space:
     * forget what is cached about the process. */
    rt_creds_exec(c->tid, c->tgid);
    /* The kernel re-reads the path from the app's memory after we answer: see
     * docs/runtime.md ("residual races"). */
    if (rt_still_valid(c))
        rt_respond(c, 0, 1);
}


void rt_h_exec(call *c, const rt_callspec *s, const uint64_t *a)
{
    if (s->nr == __NR_execve)
        do_exec(c, AT_FDCWD, a[0], 0, "execve");
    else
        do_exec(c, (int)(int32_t)a[0], a[1], (int)a[4], "execveat");
}

/* The setuid family (only notified when we are root): the kernel decides; what we cached
 * about this thread may be stale from now on. While the process is still inspectable,
 * keep a descriptor of its memory: after a drop to another user it becomes non-dumpable,
 * and the kept descriptor still reads it (until it execs). */
void rt_h_creds(call *c, const rt_callspec *s, const uint64_t *a)
{
    rt_memfd_pin(c);
    rt_creds_invalidate();
    if (rt_still_valid(c))
        rt_respond(c, 0, 1);
}
