/* connect(): pathname AF_UNIX sockets follow the file policy, without a check-then-CONTINUE.
 *
 * The supervisor takes the app's socket with pidfd_getfd (the same open file description),
 * copies the address once, and connects the shared socket itself; the app's call is
 * answered with connect's result. Nothing the app changes after the copy (the address, the
 * descriptor number) matters: the kernel never reads them again for this call.
 *
 * A pathname AF_UNIX address is resolved as the app would (resolve.c: its cwd, symlinks,
 * with its file system identity) to an O_PATH descriptor of the socket file, classified,
 * and, when allowed, connected through "/proc/self/fd/N" (the kernel follows that magic
 * link to the very inode that was checked). Anything else (other families, abstract and
 * unnamed unix addresses, AF_UNSPEC) is connected with the copied address unchanged, so the
 * kernel gives its usual answers and errors.
 *
 * The connect runs with the app thread's identity (effective ids for the peer's
 * SO_PEERCRED/SO_PEERGROUPS, file system ids and groups for the write permission on the
 * socket file); the peer sees the supervisor's pid. A socket in blocking mode is connected
 * by a short-lived worker thread that answers the notification itself (the notification fd
 * takes replies from any thread), so a slow peer never stalls the supervisor. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "calls.h"
#include "creds.h"
#include "decide.h"
#include "log.h"
#include "ratelog.h"
#include "resolve.h"

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

#define MAX_WORKERS 256

typedef struct job_s {
    int nfd;
    uint64_t id;
    pid_t tid;
    int sock;                       /* our descriptor of the app's socket */
    int target;                     /* O_PATH fd of the socket file, or -1 */
    struct sockaddr_storage addr;   /* what we connect to */
    socklen_t len;
    rt_identity who;
    struct job_s *next;
} job;

/* Worker threads for blocking connects: a queue, up to MAX_WORKERS threads, up to
 * KEEP_IDLE of them kept waiting for the next job (a thread per connect costs more than
 * the connect). */
#define KEEP_IDLE 4
static job *q_head, *q_tail;
static int workers, idle, queued_jobs;
static pthread_mutex_t workers_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t workers_cv = PTHREAD_COND_INITIALIZER;

static void job_free(job *j)
{
    if (j->sock >= 0)
        close(j->sock);
    if (j->target >= 0)
        close(j->target);
    free(j);
}

static void reply(const job *j, int err)
{
    call c;
    rt_call_init(&c, NULL, j->nfd, j->id, j->tid);
    rt_respond(&c, err, 0);
}

/* Connect as the app; 0 or -errno. A thread that cannot get back to our identity must
 * not act again: the process stops (fail closed). */
static int connect_as_app(job *j)
{
    int e = rt_identity_enter(&j->who);
    if (e == 0)
        e = connect(j->sock, (struct sockaddr *)&j->addr, j->len) < 0 ? -errno : 0;
    if (rt_identity_leave(&j->who) < 0) {
        LOG_ERR("cannot return to the supervisor's identity after a connect: stopping");
        _exit(125);
    }
    return e;
}

static void work(job *j)
{
    call c;
    rt_call_init(&c, NULL, j->nfd, j->id, j->tid);
    /* Not waited for any more (interrupted, killed): do not connect for nobody. */
    if (rt_still_valid(&c))
        reply(j, connect_as_app(j));
    job_free(j);
}

static void *worker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&workers_mu);
    for (;;) {
        while (!q_head) {
            if (idle >= KEEP_IDLE) {
                workers--;
                pthread_mutex_unlock(&workers_mu);
                return NULL;
            }
            idle++;
            pthread_cond_wait(&workers_cv, &workers_mu);
            idle--;
        }
        job *j = q_head;
        queued_jobs--;
        q_head = j->next;
        if (!q_head)
            q_tail = NULL;
        pthread_mutex_unlock(&workers_mu);
        work(j);
        pthread_mutex_lock(&workers_mu);
    }
}

/* Blocking sockets: queue for a worker; a new thread when the waiting ones are fewer
 * than the queued jobs (a slow connect never holds up the next one). */
static void run_blocking(job *j)
{
    pthread_mutex_lock(&workers_mu);
    if (queued_jobs >= MAX_WORKERS) {
        pthread_mutex_unlock(&workers_mu);
        LOG_WARN("connect: %d connects already waiting, refusing (EAGAIN) (pid %d)",
                 MAX_WORKERS, (int)j->tid);
        reply(j, -EAGAIN);
        job_free(j);
        return;
    }
    j->next = NULL;
    if (q_tail)
        q_tail->next = j;
    else
        q_head = j;
    q_tail = j;
    queued_jobs++;
    int start = queued_jobs > idle && workers < MAX_WORKERS;
    if (start)
        workers++;
    pthread_cond_signal(&workers_cv);
    pthread_mutex_unlock(&workers_mu);
    if (!start)
        return;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 256 * 1024);
    pthread_t th;
    int r = pthread_create(&th, &at, worker, NULL);
    pthread_attr_destroy(&at);
    if (r == 0)
        return;
    /* No new thread: the job waits for a running worker, or, if there is none, is taken
     * back and refused. */
    LOG_WARN("connect: no worker thread (%s) (pid %d)", strerror(r), (int)j->tid);
    pthread_mutex_lock(&workers_mu);
    workers--;
    job *mine = NULL;
    if (workers == 0) {
        mine = q_head;
        q_head = q_tail = NULL;
        queued_jobs = 0;
    }
    pthread_mutex_unlock(&workers_mu);
    while (mine) {
        job *next = mine->next;
        reply(mine, -EAGAIN);
        job_free(mine);
        mine = next;
    }
}

/* getfd with the real ids of a process that runs as another user (gosu-started services,
 * nginx workers that make themselves dumpable again): the kernel's ptrace check for
 * pidfd_getfd compares the caller's real ids with all of the target's ids. Only this
 * thread changes (raw system calls), and only for the one call. */
static long getfd_as_owner(call *c, int pidfd, int fd)
{
    uid_t u;
    gid_t g;
    if (!rt_sup_root() || rt_owner_ids(c, &u, &g) < 0)
        return -1;
    uid_t ru = getuid();
    gid_t rg = getgid();
    long r = -1;
    int err = EPERM;
    if (syscall(SYS_setresgid, g, (gid_t)-1, (gid_t)-1) == 0) {
        if (syscall(SYS_setresuid, u, (uid_t)-1, (uid_t)-1) == 0) {
            r = syscall(__NR_pidfd_getfd, pidfd, fd, 0);
            err = errno;
            if (syscall(SYS_setresuid, ru, (uid_t)-1, (uid_t)-1) < 0) {
                LOG_ERR("cannot return to the supervisor's real uid: stopping");
                _exit(125);
            }
        }
        if (syscall(SYS_setresgid, rg, (gid_t)-1, (gid_t)-1) < 0) {
            LOG_ERR("cannot return to the supervisor's real gid: stopping");
            _exit(125);
        }
    }
    errno = err;
    return r;
}

/* Our descriptor of the app's fd: >= 0, -EBADF (not open in the app), -EACCES (cannot
 * inspect the process), -ESRCH (gone). */
static int take_fd(call *c, int fd)
{
    long pfd = syscall(__NR_pidfd_open, c->tid, PIDFD_THREAD);
    if (pfd < 0 && errno == EINVAL && c->tgid > 0)
        pfd = syscall(__NR_pidfd_open, c->tgid, 0); /* Linux < 6.9: the process */
    if (pfd < 0)
        return errno == ESRCH ? -ESRCH : -EACCES;
    long g = syscall(__NR_pidfd_getfd, (int)pfd, fd, 0);
    if (g < 0 && errno == EPERM) {
        g = getfd_as_owner(c, (int)pfd, fd);
        if (g < 0)
            LOG_DEBUG("connect: pidfd_getfd of pid %d fd %d as its owner: %s", (int)c->tid, fd,
                      strerror(errno));
    }
    int e = errno;
    close((int)pfd);
    if (g >= 0)
        return (int)g;
    if (e == EBADF)
        return -EBADF;
    return e == ESRCH ? -ESRCH : -EACCES;
}

/* The path of a pathname AF_UNIX address (as the kernel reads it: up to the first NUL
 * within len) into out; 0 when the address is not one. */
static int unix_pathname(const struct sockaddr_storage *sa, socklen_t len, char *out,
                         size_t outlen)
{
    const struct sockaddr_un *u = (const struct sockaddr_un *)sa;
    if (u->sun_family != AF_UNIX || len <= offsetof(struct sockaddr_un, sun_path) ||
        u->sun_path[0] == 0)
        return 0;
    size_t n = len - offsetof(struct sockaddr_un, sun_path);
    if (n > sizeof(u->sun_path))
        n = sizeof(u->sun_path);
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, u->sun_path, n);
    out[n] = 0;
    return 1;
}

/* Resolve a socket path as the app would, classify it: 0 with *target an O_PATH fd of the
 * socket file (allowed), or -errno to answer (denied: EACCES + log; missing: ENOENT). */
static int unix_check(call *c, const char *path, int *target)
{
    rt_resolved r;
    memset(&r, 0, sizeof(r));
    r.fd = r.parent = -1;
    *target = -1;
    /* resolve with the app's file system identity: search permission on each directory */
    int e = rt_creds_enter(c, 0);
    if (e == 0)
        e = rt_resolve(c->tid, c->tgid, AT_FDCWD, path, RT_FOLLOW, 0, &r);
    rt_creds_leave(c);
    if (e < 0) {
        LOG_TRACE("policy: connect %s: lookup failed: %s", path, strerror(-e));
        return e;
    }
    if (r.fd < 0) {
        rt_resolved_close(&r);
        return -ENOENT; /* what the kernel says for a missing socket file */
    }
    const gsc_trusted_file *t;
    enum gsc_policy_class k = rt_classify(c->m, &r, &t);
    if (k != GSC_PATH_ALLOWED) {
        if (c->m->allow_all_but_log) {
            LOG_WARN("policy: allow_all_but_log: permitting connect %s (pid %d)", r.path,
                     (int)c->tid);
        } else {
            rt_deny_log(c, "connect to", r.path, "socket is not at an allowed path");
            rt_resolved_close(&r);
            return -EACCES;
        }
    }
    LOG_DEBUG("policy: connect %s (%s): allowed (pid %d)", r.path, rt_class_name(k),
              (int)c->tid);
    *target = r.fd;
    r.fd = -1;
    rt_resolved_close(&r);
    return 0;
}

/* Point j at the checked socket file: "/proc/self/fd/N" of its O_PATH descriptor. */
static void unix_retarget(job *j, int target)
{
    j->target = target;
    struct sockaddr_un *u = (struct sockaddr_un *)&j->addr;
    memset(u, 0, sizeof(*u));
    u->sun_family = AF_UNIX;
    int n = snprintf(u->sun_path, sizeof(u->sun_path), "/proc/self/fd/%d", target);
    j->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
}

/* The socket cannot be taken (a process that dropped privileges and is not dumpable: the
 * kernel's ptrace check for pidfd_getfd needs CAP_SYS_PTRACE then). Only answers that
 * the copied address alone decides are given: a pathname socket that is missing or denied
 * gets ENOENT/EACCES as it would anyway (glibc's probe of the nscd socket after a drop);
 * everything else is refused (EACCES, "cannot be inspected"): letting the kernel run the
 * call would let a racing thread swap in another address. */
static void uninspectable(call *c, job *j)
{
    char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
    int e = -EACCES;
    if (unix_pathname(&j->addr, j->len, path, sizeof(path))) {
        int target;
        e = unix_check(c, path, &target);
        if (e == 0) {
            close(target);
            e = -EACCES;
        }
    }
    if (e == -EACCES)
        rt_note_uninspectable(c->tid);
    job_free(j);
    rt_respond(c, e, 0);
}

/* ---- Without pidfd_getfd (Docker's default seccomp profile refuses it without
 * CAP_SYS_PTRACE) ------------------------------------------------------------------------
 *
 * The app's socket cannot be taken, so the kernel runs the connect (CONTINUE) once the
 * copied address passed the policy: a pathname AF_UNIX address is resolved and classified
 * as above (denied: EACCES + log, missing: ENOENT), anything else goes as it is. A socket
 * the supervisor made and installed at the app's descriptor number instead would be
 * race-free but is not the app's socket: an epoll registration made before connect (nginx
 * registers its upstream socket, then connects) would watch the closed one. Residual
 * (docs/runtime.md): a second thread (code already running in the app) can rewrite the
 * address after the check, so that the kernel connects to a socket at a denied path. */
static void connect_without_getfd(call *c, job *j, int le)
{
    char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
    int is_path = unix_pathname(&j->addr, j->len, path, sizeof(path));
    job_free(j);
    if (!is_path)
        return rt_respond(c, 0, 1);
    if (!rt_still_valid(c)) {
        c->answered = 1;
        return;
    }
    if (le < 0) {
        rt_note_uninspectable(c->tid);
        return rt_respond(c, -EACCES, 0);
    }
    int target;
    int e = unix_check(c, path, &target);
    if (e < 0)
        return rt_respond(c, e, 0);
    close(target);
    rt_respond(c, 0, 1);
}

void rt_h_connect(call *c, const rt_callspec *s, const uint64_t *a)
{
    (void)s;
    int fd = (int)(int32_t)a[0];
    uint64_t addr = a[1];
    int64_t len = (int32_t)a[2];
    if (len < 0 || len > (int64_t)sizeof(struct sockaddr_storage))
        return rt_respond(c, -EINVAL, 0); /* as the kernel checks first */
    job *j = calloc(1, sizeof(*j));
    if (!j)
        return rt_respond(c, -ENOMEM, 0);
    j->nfd = c->nfd;
    j->id = c->id;
    j->tid = c->tid;
    j->target = -1;
    j->sock = -1;
    j->len = (socklen_t)len;
    /* The address, once. */
    int e = len ? rt_read_mem(c, addr, &j->addr, (size_t)len) : 0;
    if (e < 0) {
        free(j);
        return rt_read_failed(c, e);
    }
    int le = rt_creds_load(c, 0);
    if (!rt_getfd_usable())
        return connect_without_getfd(c, j, le);
    j->sock = take_fd(c, fd);
    /* Everything above is about the thread that asked only if its call is still
     * pending. */
    if (!rt_still_valid(c)) {
        c->answered = 1;
        job_free(j);
        return;
    }
    if (le < 0 || (j->sock < 0 && j->sock != -EBADF))
        return uninspectable(c, j);
    if (j->sock < 0) {
        job_free(j);
        return rt_respond(c, -EBADF, 0);
    }
    if ((e = rt_identity_of(c, &j->who)) < 0) {
        job_free(j);
        return rt_respond(c, e, 0);
    }
    int domain = 0;
    socklen_t dl = sizeof(domain);
    if (getsockopt(j->sock, SOL_SOCKET, SO_DOMAIN, &domain, &dl) < 0)
        domain = -1; /* not a socket: connect below says ENOTSOCK */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
    if (domain == AF_UNIX && unix_pathname(&j->addr, j->len, path, sizeof(path))) {
        int target;
        if ((e = unix_check(c, path, &target)) < 0) {
            job_free(j);
            return rt_respond(c, e, 0);
        }
        unix_retarget(j, target);
    }
    int fl = fcntl(j->sock, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK)) {
        c->answered = 1; /* the worker answers */
        return run_blocking(j);
    }
    /* Non-blocking: connect returns at once (EINPROGRESS for TCP, EAGAIN for a full unix
     * backlog). */
    e = connect_as_app(j);
    job_free(j);
    rt_respond(c, e, 0);
}
