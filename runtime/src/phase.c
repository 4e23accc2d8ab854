#include "phase.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <linux/ioprio.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "landlock.h"
#include "log.h"
#include "trust.h"
#include "util.h"

static const gsc_manifest *M;
static gsc_ttable *T;
static int efd = -1;
static atomic_int exec_done, all_done, exec_failed, any_failed;
static int at_launch; /* rt_phase_verify_now runs: its caller reports failures */
static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;
static size_t fail_idx = SIZE_MAX; /* at launch: the first failed file, manifest order */
static int fail_err;

int rt_phase_decide(int done, int failed, int landlock, int audit_mode)
{
    return done && !failed && landlock && !audit_mode ? 2 : 1;
}

int rt_phase(void)
{
    return rt_phase_decide(atomic_load(&all_done), atomic_load(&any_failed),
                           gsc_landlock_active, M ? M->allow_all_but_log : 1);
}

int rt_phase_exec_state(void)
{
    if (atomic_load(&exec_failed))
        return -1;
    return atomic_load(&exec_done) ? 1 : 0;
}

gsc_ttable *rt_phase_table(void)
{
    return T;
}

static void wake(void)
{
    uint64_t one = 1;
    if (efd >= 0 && write(efd, &one, sizeof(one)) < 0)
        LOG_TRACE("verifier: eventfd: %s", strerror(errno));
}

void rt_phase_failure(const gsc_trusted_file *t)
{
    atomic_store(&any_failed, 1);
    if (T && M) {
        size_t idx = (size_t)(t - M->trusted);
        if (idx < T->n) {
            T->e[idx].state = GSC_TT_FAILED;
            if (T->e[idx].executable)
                atomic_store(&exec_failed, 1);
        }
    }
    wake();
}

/* 1 when we hold no capability at all (permitted, effective, inheritable, ambient). The
 * app is our child, started with no_new_privs (setuid bits and file capabilities ignored):
 * its credentials can only be ours or fewer. */
static int no_capabilities(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof(d));
    if (syscall(SYS_capget, &hdr, d) < 0)
        return 0;
    for (int i = 0; i < 2; i++)
        if (d[i].permitted | d[i].effective | d[i].inheritable)
            return 0;
    for (int c = 0; c <= CAP_LAST_CAP; c++)
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) == 1)
            return 0;
    return 1;
}

/* A trusted file we may not read (EACCES) that the app can never read either: we hold no
 * capability and the file is not ours (only its owner could chmod it or set an ACL). The
 * app has our credentials or fewer, so the kernel refuses its opens as it refused ours:
 * nothing unverified can ever reach it, in phase 1 or 2 (a non-root USER and Debian's
 * root-only /etc/default/cacerts). Mapping or executing it stays refused (no verified
 * content: h_mmap and exec verify again and fail). */
static int unreadable_for_good(const gsc_tt_entry *e)
{
    struct stat st;
    if (e->fd >= 0)
        return fstat(e->fd, &st) == 0 && st.st_dev == e->dev && st.st_ino == e->ino &&
               st.st_uid != geteuid() && no_capabilities();
    const gsc_nsdir *d = &T->w->d[T->w->file_dir[e->index]];
    return fstatat(d->fd, strrchr(M->trusted[e->index].path, '/') + 1, &st,
                   AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISREG(st.st_mode) && st.st_uid != geteuid() && no_capabilities();
}

static void verify_entry(gsc_tt_entry *e, uint8_t *buf)
{
    if ((e->fd < 0 && !e->dirrule) || e->state != GSC_TT_UNVERIFIED)
        return;
    int fd = gsc_ttable_open(T, M, e);
    struct stat st;
    int r;
    if (fd == -ENOENT && e->dirrule)
        return; /* missing, as a missing file with a per-file rule */
    if (fd == -EACCES && unreadable_for_good(e)) {
        e->state = GSC_TT_UNREADABLE;
        LOG_DEBUG("verifier: %s is not readable by this container's user, nor by the app: "
                  "not hashed", M->trusted[e->index].path);
        return;
    }
    if (fd < 0)
        r = fd;
    else if (fstat(fd, &st) < 0 || (e->fd >= 0 && (st.st_dev != e->dev || st.st_ino != e->ino)))
        r = -EPERM;
    else
        r = rt_trust_verify_buf(&M->trusted[e->index], fd, buf);
    if (fd >= 0)
        close(fd);
    if (r == 0) {
        gsc_ttable_verified(T, e->index, st.st_dev, st.st_ino, 1);
        return;
    }
    if (!at_launch)
        LOG_ERR("policy: trusted file %s failed verification (%s): it is refused, and so "
                "are later execs", M->trusted[e->index].path,
                r == -EPERM ? "hash mismatch" : strerror(-r));
    if (at_launch) {
        pthread_mutex_lock(&fail_mu);
        if (e->index < fail_idx) {
            fail_idx = e->index;
            fail_err = r;
        }
        pthread_mutex_unlock(&fail_mu);
    }
    rt_phase_failure(&M->trusted[e->index]);
}

static void *verifier(void *arg)
{
    (void)arg;
    /* Named: the benchmark (and an operator) can see whether verification still runs. */
    prctl(PR_SET_NAME, "gsc-verifier", 0, 0, 0);
    /* Only idle CPU time: the app comes first. */
    struct sched_param sp = {.sched_priority = 0};
    if (sched_setscheduler(0, SCHED_IDLE, &sp) < 0)
        LOG_TRACE("verifier: SCHED_IDLE: %s", strerror(errno));
    /* And only idle disk time: on a cold page cache its reads would queue ahead of the
     * app's page faults (the I/O scheduler honours the class; mq-deadline does). This
     * thread only: IOPRIO_WHO_PROCESS with a thread id. */
    if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, (int)syscall(SYS_gettid),
                IOPRIO_PRIO_VALUE(IOPRIO_CLASS_IDLE, 0)) < 0)
        LOG_TRACE("verifier: idle I/O class: %s", strerror(errno));
    uint8_t *buf = rt_xmalloc(rt_trust_hash_buf_size());
    for (size_t i = 0; i < T->n; i++)
        if (T->e[i].executable)
            verify_entry(&T->e[i], buf);
    atomic_store(&exec_done, 1);
    wake();
    for (size_t i = 0; i < T->n; i++)
        if (!T->e[i].executable)
            verify_entry(&T->e[i], buf);
    free(buf);
    atomic_store(&all_done, 1);
    LOG_DEBUG("verifier: every trusted file checked (%s); phase %d",
              atomic_load(&any_failed) ? "failures" : "all verified", rt_phase());
    wake();
    return NULL;
}

static atomic_size_t next_entry;

static void *launch_worker(void *arg)
{
    (void)arg;
    uint8_t *buf = rt_xmalloc(rt_trust_hash_buf_size());
    for (size_t i; (i = atomic_fetch_add(&next_entry, 1)) < T->n;)
        verify_entry(&T->e[i], buf);
    free(buf);
    return NULL;
}

int rt_phase_verify_now(const gsc_manifest *m, gsc_ttable *t, char *err, size_t errlen)
{
    M = m;
    T = t;
    at_launch = 1;
    atomic_store(&next_entry, 0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nthreads = cpus < 1 ? 1 : cpus > 4 ? 4 : (size_t)cpus;
    pthread_t th[4];
    size_t started = 0;
    /* The calling thread works too; a thread that cannot start just leaves more for it. */
    for (size_t i = 1; i < nthreads; i++)
        if (pthread_create(&th[started], NULL, launch_worker, NULL) == 0)
            started++;
    launch_worker(NULL);
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    at_launch = 0;
    if (fail_idx != SIZE_MAX) {
        snprintf(err, errlen, "trusted file %s failed verification (%s)",
                 m->trusted[fail_idx].path,
                 fail_err == -EPERM ? "hash mismatch" : strerror(-fail_err));
        return -1;
    }
    atomic_store(&exec_done, 1);
    atomic_store(&all_done, 1);
    return 0;
}

int rt_opens_needed(const gsc_manifest *m, int verified_at_launch)
{
    return !verified_at_launch || !gsc_landlock_active || m->allow_all_but_log ||
           m->nencrypted > 0 || m->remote_attestation != GSC_RA_NONE ||
           m->log_level >= GSC_LOG_DEBUG;
}

static void note_verified(size_t idx, dev_t dev, ino_t ino)
{
    gsc_ttable_verified(T, idx, dev, ino, 0);
}

int rt_phase_start(const gsc_manifest *m, gsc_ttable *t)
{
    M = m;
    T = t;
    rt_trust_on_verified(note_verified);
    efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0)
        return -1;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    int r = pthread_create(&th, &at, verifier, NULL);
    pthread_attr_destroy(&at);
    if (r != 0) {
        /* No thread: verify now, before the app starts (slower launch, same policy). */
        LOG_WARN("cannot start the background verifier (%s): verifying now", strerror(r));
        verifier(NULL);
    }
    return efd;
}
