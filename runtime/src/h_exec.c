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
#include "landlock.h"
#include "log.h"
#include "pathset.h"
#include "phase.h"
#include "ratelog.h"

/* Execs waiting for the verifier (Landlock mode): answered by rt_exec_flush. */
#define MAX_DEFERRED 256
static uint64_t deferred[MAX_DEFERRED];
static pid_t deferred_tid[MAX_DEFERRED];
static size_t ndeferred;
static int first_exec_done;

/* With Landlock, the kernel only lets the app execute the gsc.executables entries (older
 * manifests: trusted files that had an x bit at launch), each by its own rule; the exec
 * may be CONTINUEd once every such file is verified (the verifier's executables pass): whatever path a racing thread substitutes, the kernel runs a verified
 * trusted file. Until then the reply waits; after a failure, later execs are refused. */
static void answer_later_exec(call *c, const char *what)
{
    int st = rt_phase_exec_state();
    if (st < 0) {
        LOG_ERR("policy: denied %s (pid %d): a trusted executable failed verification",
                what, (int)c->tid);
        return rt_respond(c, -EACCES, 0);
    }
    if (st > 0)
        return rt_respond(c, 0, 1);
    if (ndeferred == MAX_DEFERRED) {
        LOG_ERR("policy: denied %s (pid %d): too many execs waiting for verification", what,
                (int)c->tid);
        return rt_respond(c, -EAGAIN, 0);
    }
    LOG_TRACE("exec of pid %d waits for the verifier", (int)c->tid);
    deferred_tid[ndeferred] = c->tid;
    deferred[ndeferred++] = c->id;
    c->answered = 1;
}

void rt_exec_flush(int nfd, const gsc_manifest *m)
{
    int st = rt_phase_exec_state();
    if (st == 0)
        return;
    for (size_t i = 0; i < ndeferred; i++) {
        call c;
        rt_call_init(&c, m, nfd, deferred[i], deferred_tid[i]);
        if (!rt_still_valid(&c))
            continue;
        if (st < 0)
            LOG_ERR("policy: denied exec (pid %d): a trusted executable failed verification",
                    (int)c.tid);
        rt_respond(&c, st > 0 ? 0 : -EACCES, st > 0);
    }
    ndeferred = 0;
}

/* With Landlock and every executable verified, the supervisor's check of an exec only
 * explains refusals: the kernel grants EXECUTE on the verified gsc.executables and nothing
 * else, for the program and for every interpreter it opens (open_exec: Landlock's
 * EXECUTE right), so the check's verdict is the kernel's. An absolute path (execve, or
 * execveat from AT_FDCWD) that passed it once is CONTINUEd at once afterwards: a fork
 * loop running /bin/true pays one check, not 200. */
static rt_pathset passed;

static void do_exec(call *c, int dirfd, uint64_t path_addr, int atflags, const char *what)
{
    int first = !first_exec_done;
    first_exec_done = 1;
    /* The first exec is the runtime's own single-threaded child running the entrypoint:
     * checked and continued (nothing can race it). */
    int later_ll = gsc_landlock_active && !first && !c->m->allow_all_but_log;
    char path[PATH_MAX];
    int e = rt_read_str(c, path_addr, path, sizeof(path));
    uint64_t h = 0;
    if (later_ll && e >= 0 && path[0] == '/' && dirfd == AT_FDCWD &&
        rt_phase_exec_state() > 0) {
        h = rt_path_hash(path) ^ (uint64_t)(atflags & (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH));
        if (rt_pathset_has(&passed, h)) {
            rt_creds_exec(c->tid, c->tgid);
            if (rt_still_valid(c))
                rt_respond(c, 0, 1);
            return;
        }
    }
    if (e < 0) {
        /* Cannot inspect (say, a process that dropped privileges): Landlock decides. */
        if (later_ll && e == -EACCES && rt_still_valid(c)) {
            rt_creds_exec(c->tid, c->tgid);
            return answer_later_exec(c, what);
        }
        return rt_read_failed(c, e);
    }
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
            rt_log(rt_first_denial(path) ? GSC_LOG_ERROR : GSC_LOG_DEBUG,
                   "policy: denied %s (pid %d): %s", what, (int)c->tid, why);
        return rt_respond(c, e, 0);
    }
    LOG_DEBUG("policy: %s %s: allowed (pid %d)", what, path, (int)c->tid);
    if (h)
        rt_pathset_add(&passed, h);
    /* The exec changes credentials (fsuid follows euid again) and the address space:
     * forget what is cached about the process. */
    rt_creds_exec(c->tid, c->tgid);
    /* The kernel re-reads the path from the app's memory after we answer: see
     * docs/runtime.md ("residual races"). */
    if (!rt_still_valid(c))
        return;
    if (later_ll)
        return answer_later_exec(c, what);
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
