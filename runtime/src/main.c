/* gsc-runtime: PID 1 of a shielded container.
 *
 *   1. measured launch: signature + MRENCLAVE over this executable and the manifest;
 *   2. argv / environment / working directory from the manifest;
 *   3. fork: the child installs the seccomp filter, hands the listener to us and execs the
 *      entrypoint (the exec itself is already policed);
 *   4. we answer the app's file and exec calls, forward signals, reap, exit with its
 *      status. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>
#include <stdint.h>

#include "appsetup.h"
#include "filter.h"
#include "landlock.h"
#include "launch.h"
#include "h_special.h"
#include "log.h"
#include "phase.h"
#include "resolve.h"
#include "supervisor.h"
#include "trust.h"
#include "ttable.h"
#include "nscheck.h"
#include "../core/policy.h"

#include <time.h>

extern char **environ;

/* Built before fork; the child enforces it, the supervisor reads its table. */
static gsc_lock lock;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Before the app exists: the manifest fits the kernel's rule model, the image's
 * namespace is the pinned one, and the Landlock domain is built (docs/runtime.md). This
 * runs while the launch measurement is still being computed in a second thread, so it must
 * have no effect outside this process (it opens O_PATH descriptors, lists directories and
 * fills a ruleset nobody uses yet) and must not log: 0, or -1 with the refusal in err,
 * which the caller reports only once the measurement matched. */
typedef struct {
    double t_prepare, t_ns, t_table;
    size_t nlisted;
} policy_times;

static int prepare_policy(const gsc_manifest *m, char *err, size_t errlen, policy_times *pt)
{
    if (gsc_policy_check(m, err, errlen) < 0)
        return -1;
    double t0 = now_ms();
    /* Kept for the supervisor's lifetime: the verifier opens the files that a directory
     * rule covers beneath these descriptors (ttable.h). */
    static gsc_nswalk w;
    if (gsc_nscheck(m, &w, err, errlen) < 0)
        return -1;
    double t1 = now_ms();
    int r = gsc_landlock_prepare(m, &w, &lock, err, errlen);
    double t2 = now_ms();
    pt->nlisted = w.nlisted;
    if (r < 0)
        gsc_nswalk_free(&w);
    pt->t_prepare = t2 - t0;
    pt->t_ns = t1 - t0;
    pt->t_table = t2 - t1;
    return r;
}

static void log_policy(const gsc_manifest *m, const policy_times *pt, double t_begin,
                       double t_finish)
{
    LOG_DEBUG("namespace check: %zu trusted directories, %zu pinned symlinks, %.2f ms",
              pt->nlisted, m->nsymlinks, pt->t_ns);
    LOG_DEBUG("trusted-file table%s: %zu files opened in %.2f ms",
              gsc_landlock_active ? " + rules" : "", lock.tt.nid, lock.table_ms);
    LOG_DEBUG("Landlock ABI %d: %s, %zu rules, %zu trusted files opened, %.2f ms", lock.abi,
              gsc_landlock_active ? "enforced" : "NOT enforced (weak mode)", lock.nrules,
              lock.tt.nid, pt->t_table);
    LOG_DEBUG("Landlock: %zu directory rules covering %zu trusted files (not opened at "
              "launch)%s", lock.ndirrules, lock.tt.ndirrule,
              m->has_executables ? "" : "; no gsc.executables: per-file rules only");
    LOG_DEBUG("launch policy: measured launch and setup %.2f ms, namespace check + table + "
              "Landlock %.2f ms (overlapped with the measurement), launch ready at %.2f ms",
              t_begin, pt->t_prepare, t_finish);
    if (!gsc_landlock_active && m->allow_all_but_log && lock.abi >= 3)
        LOG_WARN("audit mode (allow_all_but_log): no Landlock domain, nothing is enforced");
    else if (!gsc_landlock_active)
        LOG_WARN("Landlock %s: gsc.insecure__allow_no_landlock is set, the supervisor alone "
                 "enforces the policy (weaker: see docs/runtime.md)",
                 lock.abi ? "ABI < 3" : "unavailable");
}


/* Every catchable signal is forwarded to the app (Docker's STOPSIGNAL may be any of them:
 * apache2 uses SIGWINCH), except SIGCHLD (ours) and the two real-time signals glibc keeps
 * for itself (32, 33: not deliverable through its API). */
static void forwarded_set(sigset_t *set)
{
    sigemptyset(set);
    for (int s = 1; s < SIGRTMIN; s++)
        if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD && s < 32)
            sigaddset(set, s);
    for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
        sigaddset(set, s);
}

/* As PID 1 of a namespace, signals whose disposition is SIG_DFL are discarded before they
 * are queued; a (never run) handler keeps them queued for the signalfd. */
static void noop_handler(int sig)
{
    (void)sig;
}

static int send_fd(int sock, int fd)
{
    char byte = 'F';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof(u));
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                         .msg_controllen = sizeof(u.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                         .msg_controllen = sizeof(u.buf)};
    ssize_t n;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len != CMSG_LEN(sizeof(int)))
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return fd;
}

/* The supervisor is non-dumpable and outside the app's Landlock domain, so the kernel
 * refuses the app its /proc/PID/mem and ptrace; but the read-mode /proc entries of a
 * non-dumpable process (environ, maps, status...) only need CAP_SYS_PTRACE. A container
 * started with --cap-add SYS_PTRACE (or --privileged, or the runtime run as root on a host)
 * would let the app read the supervisor's environment, which holds host variables the
 * manifest does not pass. The app never gets CAP_SYS_PTRACE: removed from the bounding
 * set (no exec can regain it) and from the permitted, effective, inheritable and ambient
 * sets. Without CAP_SETPCAP (a non-root runtime) the bounding set cannot change, but then
 * the process has no CAP_SYS_PTRACE to lose either. */
static void drop_ptrace_capability(void)
{
    if (prctl(PR_CAPBSET_READ, CAP_SYS_PTRACE, 0, 0, 0) == 1 &&
        prctl(PR_CAPBSET_DROP, CAP_SYS_PTRACE, 0, 0, 0) < 0 && errno != EPERM)
        rt_refuse("cannot drop CAP_SYS_PTRACE from the bounding set: %s", strerror(errno));
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, CAP_SYS_PTRACE, 0, 0);
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &hdr, data) < 0)
        rt_refuse("capget: %s", strerror(errno));
    uint32_t bit = 1u << (CAP_SYS_PTRACE % 32);
    int word = CAP_SYS_PTRACE / 32;
    if ((data[word].permitted | data[word].effective | data[word].inheritable) & bit) {
        data[word].permitted &= ~bit;
        data[word].effective &= ~bit;
        data[word].inheritable &= ~bit;
        if (syscall(SYS_capset, &hdr, data) < 0)
            rt_refuse("cannot drop CAP_SYS_PTRACE: %s", strerror(errno));
    }
}

static __attribute__((noreturn)) void child(const gsc_manifest *m, const rt_app *app,
                                           int sock, const sigset_t *oldmask, pid_t sup,
                                           int opens)
{
    /* Our no-op handlers would be reset by execve anyway; do it before the app's code. */
    for (int s = 1; s <= SIGRTMAX; s++)
        if (s != SIGKILL && s != SIGSTOP && (s < 32 || s >= SIGRTMIN))
            signal(s, SIG_DFL);
    sigprocmask(SIG_SETMASK, oldmask, NULL);
    if (m->start_dir && chdir(m->start_dir) < 0)
        rt_refuse("cannot change to fs.start_dir %s: %s", m->start_dir, strerror(errno));
    int le = gsc_landlock_enforce(&lock);
    if (le < 0)
        rt_refuse("cannot enforce the Landlock domain: %s", strerror(-le));
    drop_ptrace_capability();
    int lfd = rt_install_filter(sup, geteuid() == 0, opens);
    if (lfd < 0)
        rt_refuse("cannot install the seccomp filter: %s", strerror(-lfd));
    if (send_fd(sock, lfd) < 0)
        rt_refuse("cannot hand the seccomp listener to the supervisor: %s", strerror(errno));
    close(lfd);
    close(sock);
    execve(m->entrypoint, app->argv, app->envp);
    int e = errno;
    rt_refuse("cannot execute %s: %s%s", m->entrypoint, strerror(e),
              e == EACCES ? " (the entrypoint must be a trusted file)" : "");
}

int main(int argc, char **argv)
{
    double t_start = now_ms();
    rt_launch L;
    /* Signature and parse; MRENCLAVE is recomputed in a second thread meanwhile. */
    rt_launch_begin(&L);
    const gsc_manifest *m = &L.manifest;
    double t_begin = now_ms() - t_start;
    /* Namespace check, trusted-file table, Landlock ruleset: no effect outside this
     * process, nothing logged, the refusal (if any) kept until the measurement matched. */
    char perr[1024] = "";
    policy_times pt = {0};
    int pr = prepare_policy(m, perr, sizeof(perr), &pt);
    rt_launch_finish(&L); /* a mismatch refuses here, before anything else is said */

    rt_trust_init(m);
    rt_attest_init(&L);
    rt_enc_init(m);
    rt_app app;
    rt_app_setup(m, argc, argv, environ, &app);
    if (rt_resolve_init() < 0)
        rt_refuse("cannot open / and /proc/self");
    if (pr < 0)
        rt_refuse("%s", perr);
    log_policy(m, &pt, t_begin, now_ms() - t_start);
    /* gsc.verify_trusted_files = "at_launch": every trusted file is hashed now, before the
     * app exists; a mismatch refuses the launch. The app then starts in phase 2 and, unless
     * an open needs the supervisor, its opens are not notified at all (docs/runtime.md,
     * "Verification at launch"). It needs the Landlock domain: without it (weak or audit
     * mode) the supervisor must see every open, so verification stays on first use. */
    int at_launch = m->verify_at_launch && gsc_landlock_active && !m->allow_all_but_log;
    if (m->verify_at_launch && !at_launch)
        LOG_DEBUG("gsc.verify_trusted_files = \"at_launch\" needs the Landlock domain: "
                  "verifying on first use");
    if (at_launch) {
        double t0 = now_ms();
        char verr[PATH_MAX + 128];
        if (rt_phase_verify_now(m, &lock.tt, verr, sizeof(verr)) < 0)
            rt_refuse("%s", verr);
        LOG_DEBUG("verification at launch: %zu trusted files in %.2f ms", m->ntrusted,
                  now_ms() - t0);
    }
    int opens = rt_opens_needed(m, at_launch);
    if (at_launch)
        LOG_DEBUG("opens %s", opens ? "are notified (an open needs the supervisor)"
                                    : "are not notified: the kernel decides them");
    /* The app's environment is a copy (app.envp); the host's stays readable through
     * /proc/PID/environ of this process, which the kernel lets the app open in phase 2
     * (measured: Linux 6.18, root app without CAP_SYS_PTRACE, inside the Landlock domain).
     * Wipe it: nothing reads it after the launch (GSC_EXPECT_* were read above). */
    for (char **e = environ; e && *e; e++)
        explicit_bzero(*e, strlen(*e));

    sigset_t mask, oldmask;
    forwarded_set(&mask);
    sigaddset(&mask, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &mask, &oldmask) < 0)
        rt_refuse("cannot block signals: %s", strerror(errno));
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = noop_handler;
    sa.sa_flags = SA_RESTART;
    for (int s = 1; s <= SIGRTMAX; s++)
        if (sigismember(&mask, s) == 1)
            sigaction(s, &sa, NULL);
    int sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd < 0)
        rt_refuse("signalfd: %s", strerror(errno));
    if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        LOG_WARN("cannot become a child subreaper: %s", strerror(errno));

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        rt_refuse("socketpair: %s", strerror(errno));
    pid_t sup = getpid();
    pid_t pid = fork();
    if (pid < 0)
        rt_refuse("fork: %s", strerror(errno));
    if (pid == 0) {
        close(sv[0]);
        close(sigfd);
        child(m, &app, sv[1], &oldmask, sup, opens);
    }
    close(sv[1]);
    /* Nobody with our uid may ptrace us or read our memory from now on. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
        /* The app's first exec waits for us: it never runs unprotected. */
        kill(pid, SIGKILL);
        rt_refuse("cannot mark the supervisor non-dumpable: %s", strerror(errno));
    }
    int nfd = recv_fd(sv[0]);
    close(sv[0]);
    if (nfd < 0) {
        /* The child failed before exec and already said why. */
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 126;
    }
    LOG_DEBUG("supervising pid %d (%s)", (int)pid, m->entrypoint);
    /* After the fork and with every signal blocked: the thread inherits the mask. */
    int vfd = rt_phase_start(m, &lock.tt);
    int rc = rt_supervise(m, nfd, sigfd, vfd, pid);
    /* The notification and verifier threads may still be running: leave without running
     * exit-time teardown under them (a crash there would replace the app's status). */
    fflush(NULL);
    _exit(rc);
}
