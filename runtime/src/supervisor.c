#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "calls.h"
#include "creds.h"
#include "log.h"
#include "notif.h"
#include "phase.h"
#include "util.h"

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

static const rt_callspec *dispatch[512];

static void dispatch_init(void)
{
    for (size_t i = 0; i < rt_ncalls; i++)
        if (rt_calls[i].action == RT_NOTIFY && rt_calls[i].nr >= 0 && rt_calls[i].nr < 512)
            dispatch[rt_calls[i].nr] = &rt_calls[i];
}

static void handle(const gsc_manifest *m, int nfd, const struct seccomp_notif *req)
{
    call c;
    /* The pid in the notification is only meaningful while the notification is alive:
     * every handler checks rt_still_valid() after reading from the app and before acting
     * on what it read. */
    rt_call_init(&c, m, nfd, req->id, (pid_t)req->pid);
    uint64_t a[6];
    for (int i = 0; i < 6; i++)
        a[i] = (uint64_t)req->data.args[i];
    int nr = req->data.nr;
    const rt_callspec *s = nr >= 0 && nr < 512 ? dispatch[nr] : NULL;
    if (s)
        s->fn(&c, s, a);
    else
        rt_respond(&c, -ENOSYS, 0); /* filter and supervisor disagree: fail closed */
    rt_call_done(&c);
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

/* The notification thread: blocks in SECCOMP_IOCTL_NOTIF_RECV (no poll per call: with
 * SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP the kernel wakes it on the asking thread's CPU) and
 * answers. The main thread handles signals and the verifier's wake-ups; the execs the
 * verifier releases (rt_exec_flush) and every handler run under one lock, so a deferred
 * exec is never missed between the handler's check and the flush. */
typedef struct {
    const gsc_manifest *m;
    int nfd;
    size_t reqsize;
} notif_loop;

static pthread_mutex_t handler_lock = PTHREAD_MUTEX_INITIALIZER;

static void *notif_thread(void *arg)
{
    const notif_loop *l = arg;
    prctl(PR_SET_NAME, "gsc-notify", 0, 0, 0);
    struct seccomp_notif *req = rt_xcalloc(1, l->reqsize);
    for (;;) {
        memset(req, 0, l->reqsize);
        if (ioctl(l->nfd, SECCOMP_IOCTL_NOTIF_RECV, req) == 0) {
            pthread_mutex_lock(&handler_lock);
            handle(l->m, l->nfd, req);
            pthread_mutex_unlock(&handler_lock);
            continue;
        }
        if (errno == EINTR)
            continue;
        /* ENOENT: the asking task died before we took its call, or no filtered task is
         * left (then the call returns at once: stop on the hang-up). */
        int e = errno;
        struct pollfd p = {.fd = l->nfd, .events = POLLIN};
        if (e != ENOENT)
            LOG_WARN("seccomp receive: %s", strerror(e));
        if (poll(&p, 1, e == ENOENT ? 0 : 10) >= 0 &&
            (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
            break;
    }
    free(req);
    return NULL;
}

int rt_supervise(const gsc_manifest *m, int notify_fd, int sigfd, int verifier_fd, pid_t app)
{
    rt_creds_init();
    dispatch_init();
    umask(077);

    struct seccomp_notif_sizes sizes;
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0) {
        LOG_ERR("seccomp notification sizes unavailable: %s", strerror(errno));
        sizes.seccomp_notif = sizeof(struct seccomp_notif);
    }
    size_t reqsize = sizes.seccomp_notif > sizeof(struct seccomp_notif)
                         ? sizes.seccomp_notif
                         : sizeof(struct seccomp_notif);
    /* Linux >= 6.6: the app thread that asks and the supervisor that answers wake each
     * other on the current CPU (a synchronous hand-off, no cross-CPU wake-up). Only a
     * scheduling hint: without it (older kernels) everything works the same, slower. */
    if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) < 0)
        LOG_TRACE("seccomp synchronous wake-up unavailable: %s", strerror(errno));
    else
        LOG_TRACE("seccomp synchronous wake-up set");

    /* Every forwarded signal is blocked in this thread (main.c), so the new thread
     * inherits the mask: signals reach the signalfd only. */
    static notif_loop loop;
    loop = (notif_loop){.m = m, .nfd = notify_fd, .reqsize = reqsize};
    pthread_t th;
    int r = pthread_create(&th, NULL, notif_thread, &loop);
    if (r != 0) {
        /* No thread: the app's intercepted calls would wait for ever; fail closed. */
        LOG_ERR("cannot start the notification thread: %s", strerror(r));
        kill(app, SIGKILL);
        return 126;
    }
    pthread_detach(th);

    int app_status = -1;
    while (app_status < 0) {
        struct pollfd pfd[2] = {{.fd = sigfd, .events = POLLIN},
                                {.fd = verifier_fd, .events = POLLIN}};
        int pr = poll(pfd, 2, -1);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            LOG_ERR("poll: %s", strerror(errno));
            break;
        }
        if (pfd[1].revents & POLLIN) {
            uint64_t v;
            if (read(verifier_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                LOG_TRACE("verifier eventfd: %s", strerror(errno));
            pthread_mutex_lock(&handler_lock);
            rt_exec_flush(notify_fd, m);
            pthread_mutex_unlock(&handler_lock);
        }
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGCHLD)
                    continue;
                /* Raised by ourselves (a write to a closed pipe on our stderr ...): ours. */
                if ((si.ssi_code == SI_USER || si.ssi_code == SI_TKILL) &&
                    (pid_t)si.ssi_pid == getpid())
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
    return app_status < 0 ? 1 : app_status;
}
