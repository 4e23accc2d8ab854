#include "creds.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

static int sup_root;                   /* supervisor runs with euid 0 */
static gid_t sup_groups[MAX_GROUPS];
static int sup_ngroups;
static gid_t sup_egid;

int rt_sup_root(void)
{
    return sup_root;
}

static int parse_ids(const char *line, unsigned long *vals, int max)
{
    int n = 0;
    const char *p = line;
    while (n < max) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p < '0' || *p > '9')
            break;
        char *end;
        vals[n++] = strtoul(p, &end, 10);
        p = end;
    }
    return n;
}

static int read_status(call *c)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)c->tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -EIO;
    buf[n] = 0;
    int have = 0;
    for (char *line = buf; line && *line;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        unsigned long v[MAX_GROUPS];
        if (strncmp(line, "Tgid:", 5) == 0 && parse_ids(line + 5, v, 1) == 1) {
            c->tgid = (pid_t)v[0];
            have |= 1;
        } else if (strncmp(line, "Umask:", 6) == 0) {
            c->umask = (mode_t)strtoul(line + 6, NULL, 8) & 0777;
            have |= 2;
        } else if (strncmp(line, "Uid:", 4) == 0 && parse_ids(line + 4, v, 4) == 4) {
            c->euid = (uid_t)v[1];
            c->fsuid = (uid_t)v[3];
            have |= 4;
        } else if (strncmp(line, "Gid:", 4) == 0 && parse_ids(line + 4, v, 4) == 4) {
            c->egid = (gid_t)v[1];
            c->fsgid = (gid_t)v[3];
            have |= 8;
        } else if (strncmp(line, "Groups:", 7) == 0) {
            int k = parse_ids(line + 7, v, MAX_GROUPS);
            for (int i = 0; i < k; i++)
                c->groups[i] = (gid_t)v[i];
            c->ngroups = k;
            have |= 16;
        }
        line = next;
    }
    if (have != 31)
        return -EIO;
    c->creds_ok = 1;
    c->umask_ok = 1;
    return 0;
}

/* ---- credentials cache (root supervisor) -------------------------------------------
 *
 * Reading /proc/TID/status costs more than the rest of an open. A thread's fsuid, fsgid,
 * groups and tgid only change through its own system calls: the setuid family (the filter
 * notifies them when we are root: see rt_install_filter) and execve (always notified).
 * Each of those notifications starts a new generation, which drops every entry. An entry
 * also holds a pidfd of the thread (PIDFD_THREAD): while the pidfd's thread is alive, its
 * tid names nobody else, so a tid reused by another thread misses. One case escapes both:
 * execve from a thread that is not the leader takes over the leader's tid (and pid
 * struct) once the exec succeeds, after we answered; the leader's tid is then never cached
 * again. Without pidfd_open(PIDFD_THREAD) (Linux < 6.9, or refused by a seccomp profile)
 * there is no cache. */

#define CRED_SLOTS 64
#define NOCACHE_MAX 16

typedef struct {
    pid_t tid, tgid;
    int pidfd;          /* -1: empty slot */
    unsigned long gen;
    uid_t fsuid, euid;
    gid_t fsgid, egid;
    int ngroups;
    gid_t groups[MAX_GROUPS];
} cred_entry;

static cred_entry cred_cache[CRED_SLOTS];
static int cred_cache_on;              /* root supervisor with PIDFD_THREAD */
static unsigned long cred_gen = 1;
static pid_t nocache[NOCACHE_MAX];     /* leaders whose tid a sibling's exec may take */
static int n_nocache;

static void cred_cache_init(void)
{
    for (int i = 0; i < CRED_SLOTS; i++)
        cred_cache[i].pidfd = -1;
    if (!sup_root)
        return;
    long fd = syscall(__NR_pidfd_open, getpid(), PIDFD_THREAD);
    if (fd < 0) {
        LOG_TRACE("no credentials cache (pidfd_open: %s)", strerror(errno));
        return;
    }
    close((int)fd);
    cred_cache_on = 1;
}

/* Credentials may change (setuid family, setgroups, execve): forget every entry. */
void rt_creds_invalidate(void)
{
    cred_gen++;
}

static void cred_cache_no_leader(pid_t tgid)
{
    for (int i = 0; i < n_nocache; i++)
        if (nocache[i] == tgid)
            return;
    if (tgid <= 0 || n_nocache == NOCACHE_MAX) {
        cred_cache_on = 0; /* cannot keep track: no cache from now on */
        return;
    }
    nocache[n_nocache++] = tgid;
}

static int pidfd_alive(int pidfd)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    return poll(&p, 1, 0) == 0;
}

static cred_entry *cred_slot(pid_t tid)
{
    return &cred_cache[(unsigned)tid % CRED_SLOTS];
}

static int cred_cache_get(call *c)
{
    cred_entry *e = cred_slot(c->tid);
    if (!cred_cache_on || e->pidfd < 0 || e->tid != c->tid || e->gen != cred_gen ||
        !pidfd_alive(e->pidfd))
        return 0;
    c->tgid = e->tgid;
    c->fsuid = e->fsuid;
    c->fsgid = e->fsgid;
    c->euid = e->euid;
    c->egid = e->egid;
    c->ngroups = e->ngroups;
    memcpy(c->groups, e->groups, sizeof(gid_t) * (size_t)e->ngroups);
    c->creds_ok = 1;
    return 1;
}

/* Read the thread's status and remember it. The pidfd is taken first and must still be
 * alive after the read: then the status read was that thread's. */
static int cred_cache_load(call *c)
{
    if (!cred_cache_on)
        return read_status(c);
    for (int i = 0; i < n_nocache; i++)
        if (nocache[i] == c->tid)
            return read_status(c);
    long pfd = syscall(__NR_pidfd_open, c->tid, PIDFD_THREAD);
    int e = read_status(c);
    if (e < 0 || pfd < 0 || !pidfd_alive((int)pfd)) {
        if (pfd >= 0)
            close((int)pfd);
        return e;
    }
    cred_entry *s = cred_slot(c->tid);
    if (s->pidfd >= 0)
        close(s->pidfd);
    s->tid = c->tid;
    s->tgid = c->tgid;
    s->pidfd = (int)pfd;
    s->gen = cred_gen;
    s->fsuid = c->fsuid;
    s->fsgid = c->fsgid;
    s->euid = c->euid;
    s->egid = c->egid;
    s->ngroups = c->ngroups;
    memcpy(s->groups, c->groups, sizeof(gid_t) * (size_t)c->ngroups);
    return 0;
}

/* Learn what acting for the app needs, before still_valid() (so that what was learnt is
 * known to be about the thread that asked): a root supervisor takes the app's
 * fsuid/fsgid/groups; creating a file needs the app's umask (read fresh, never cached); a
 * non-root supervisor's app (no_new_privs, same credentials at start) can only be checked
 * to still be us when it creates something. */
int rt_creds_load(call *c, int creating)
{
    if (creating)
        return c->umask_ok || read_status(c) == 0 ? 0 : -EACCES;
    if (!sup_root || c->creds_ok || cred_cache_get(c))
        return 0;
    return cred_cache_load(c) == 0 ? 0 : -EACCES;
}

/* Act with the application's file system identity while touching files for it. */
int rt_creds_enter(call *c, int creating)
{
    if (!sup_root && !creating)
        return 0;
    if (!c->creds_ok)
        return -EACCES;
    if (!sup_root) {
        if (c->fsuid != geteuid() || c->fsgid != getegid())
            return -EACCES; /* cannot act as someone else: fail closed */
        return 0;
    }
    if (c->fsuid == 0 && c->fsgid == 0)
        return 0;
    c->entered = 1;
    if (syscall(SYS_setgroups, (size_t)c->ngroups, c->groups) < 0)
        return -EACCES;
    setfsgid(c->fsgid);
    setfsuid(c->fsuid);
    if ((uid_t)setfsuid((uid_t)-1) != c->fsuid || (gid_t)setfsgid((gid_t)-1) != c->fsgid)
        return -EACCES;
    return 0;
}

void rt_creds_leave(call *c)
{
    if (!c->entered)
        return;
    c->entered = 0;
    setfsuid(0);
    setfsgid(0);
    syscall(SYS_setgroups, (size_t)sup_ngroups, sup_groups);
}

int rt_identity_of(const call *c, rt_identity *out)
{
    memset(out, 0, sizeof(*out));
    if (!sup_root)
        return 0; /* the app has our credentials (no_new_privs, same ids at start) */
    if (!c->creds_ok)
        return -EACCES;
    out->set = 1;
    out->euid = c->euid;
    out->fsuid = c->fsuid;
    out->egid = c->egid;
    out->fsgid = c->fsgid;
    out->ngroups = c->ngroups;
    memcpy(out->groups, c->groups, sizeof(gid_t) * (size_t)c->ngroups);
    return 0;
}

int rt_identity_enter(const rt_identity *id)
{
    if (!id->set)
        return 0;
    /* Groups and gids first (needs CAP_SETGID, gone once the euid is not 0); the euid
     * change sets the fsuid to it; a different fsuid is only reachable when it is one of
     * our real/saved/effective ids (0 or the new euid). */
    if (syscall(SYS_setgroups, (size_t)id->ngroups, id->groups) < 0 ||
        syscall(SYS_setresgid, (gid_t)-1, id->egid, (gid_t)-1) < 0)
        return -EACCES;
    syscall(SYS_setfsgid, id->fsgid);
    if ((gid_t)syscall(SYS_setfsgid, (gid_t)-1) != id->fsgid)
        return -EACCES;
    if (syscall(SYS_setresuid, (uid_t)-1, id->euid, (uid_t)-1) < 0)
        return -EACCES;
    syscall(SYS_setfsuid, id->fsuid);
    if ((uid_t)syscall(SYS_setfsuid, (uid_t)-1) != id->fsuid)
        return -EACCES;
    return 0;
}

int rt_identity_leave(const rt_identity *id)
{
    if (!id->set)
        return 0;
    /* The saved uid is 0: the euid may go back without a capability, which brings the
     * effective capabilities back. */
    if (syscall(SYS_setresuid, (uid_t)-1, (uid_t)0, (uid_t)-1) < 0 ||
        syscall(SYS_setresgid, (gid_t)-1, sup_egid, (gid_t)-1) < 0 ||
        syscall(SYS_setgroups, (size_t)sup_ngroups, sup_groups) < 0)
        return -1;
    syscall(SYS_setfsuid, (uid_t)0);
    syscall(SYS_setfsgid, sup_egid);
    if (geteuid() != 0 || getegid() != sup_egid || (uid_t)syscall(SYS_setfsuid, (uid_t)-1) != 0)
        return -1;
    return 0;
}

void rt_creds_init(void)
{
    sup_root = geteuid() == 0;
    sup_egid = getegid();
    int ng = getgroups(MAX_GROUPS, sup_groups);
    sup_ngroups = ng < 0 ? 0 : ng;
    cred_cache_init();
}

void rt_creds_exec(pid_t tid, pid_t tgid)
{
    /* A thread other than the leader takes over the leader's tid if the exec succeeds. */
    if (cred_cache_on && tgid > 0 && tgid != tid)
        cred_cache_no_leader(tgid);
    /* The exec changes credentials (fsuid follows euid again): forget cached ones. */
    rt_creds_invalidate();
    rt_memfd_forget(tgid);
}

/* ---- kept memory descriptors --------------------------------------------------------
 *
 * One per process (the address space is shared by its threads), keyed by tgid and held
 * with a pidfd of the process: while the pidfd's process is alive, its tgid names nobody
 * else, so a reused tgid misses. The descriptor is dropped when the process execs (it
 * would read nothing), and replaced when a new one is pinned. */

#define MEM_SLOTS 64

typedef struct {
    pid_t tgid;
    int pidfd;   /* -1: empty */
    int memfd;
} mem_entry;

static mem_entry mem_cache[MEM_SLOTS];
static int mem_cache_ready;

static void mem_cache_setup(void)
{
    if (mem_cache_ready)
        return;
    for (int i = 0; i < MEM_SLOTS; i++)
        mem_cache[i].pidfd = mem_cache[i].memfd = -1;
    mem_cache_ready = 1;
}

static void mem_drop(mem_entry *e)
{
    if (e->pidfd >= 0)
        close(e->pidfd);
    if (e->memfd >= 0)
        close(e->memfd);
    e->pidfd = e->memfd = -1;
    e->tgid = 0;
}

static mem_entry *mem_find(pid_t tgid)
{
    mem_cache_setup();
    for (int i = 0; i < MEM_SLOTS; i++) {
        mem_entry *e = &mem_cache[i];
        if (e->pidfd < 0)
            continue;
        if (!pidfd_alive(e->pidfd)) {
            mem_drop(e);
            continue;
        }
        if (e->tgid == tgid)
            return e;
    }
    return NULL;
}

static int tgid_known(call *c)
{
    if (c->tgid > 0)
        return 1;
    return rt_creds_load(c, 0) == 0 && c->tgid > 0;
}

void rt_memfd_forget(pid_t tgid)
{
    if (tgid <= 0)
        return;
    mem_entry *e = mem_find(tgid);
    if (e)
        mem_drop(e);
}

void rt_memfd_pin(call *c)
{
    if (!sup_root || !tgid_known(c))
        return;
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/mem", (int)c->tid);
    long pfd = syscall(__NR_pidfd_open, c->tgid, 0);
    if (pfd < 0)
        return;
    int mfd = open(p, O_RDONLY | O_CLOEXEC);
    /* Both must be about the process that asked: its call is still pending. */
    if (mfd < 0 || !pidfd_alive((int)pfd) || !rt_still_valid(c)) {
        if (mfd >= 0)
            close(mfd);
        close((int)pfd);
        return;
    }
    mem_entry *e = mem_find(c->tgid);
    if (!e) {
        for (int i = 0; i < MEM_SLOTS && !e; i++)
            if (mem_cache[i].pidfd < 0)
                e = &mem_cache[i];
        if (!e)
            e = &mem_cache[(unsigned)c->tgid % MEM_SLOTS];
    }
    mem_drop(e);
    e->tgid = c->tgid;
    e->pidfd = (int)pfd;
    e->memfd = mfd;
    LOG_TRACE("kept a memory descriptor of pid %d", (int)c->tgid);
}

int rt_owner_ids(call *c, uid_t *uid, gid_t *gid)
{
    char p[64], buf[4096];
    snprintf(p, sizeof(p), "/proc/%d/status", (int)c->tid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    unsigned long u[4], g[4];
    char *ul = strstr(buf, "\nUid:"), *gl = strstr(buf, "\nGid:");
    if (!ul || !gl || parse_ids(ul + 5, u, 4) != 4 || parse_ids(gl + 5, g, 4) != 4)
        return -1;
    if (u[0] != u[1] || u[0] != u[2] || g[0] != g[1] || g[0] != g[2] || u[0] == 0)
        return -1;
    *uid = (uid_t)u[0];
    *gid = (gid_t)g[0];
    return 0;
}

/* A dumpable process that runs as another user (say, a service started by gosu): the
 * kernel grants /proc/PID/mem to a caller whose fsuid/fsgid equal all of the process's
 * user and group ids; we open it with exactly those. */
static int open_as_owner(call *c)
{
    uid_t u;
    gid_t g;
    if (!sup_root || rt_owner_ids(c, &u, &g) < 0)
        return -1;
    char p[64];
    setfsgid(g);
    setfsuid(u);
    snprintf(p, sizeof(p), "/proc/%d/mem", (int)c->tid);
    int mfd = open(p, O_RDONLY | O_CLOEXEC);
    setfsuid(0);
    setfsgid(0);
    return mfd;
}

int rt_memfd_get(call *c)
{
    if (!sup_root || !tgid_known(c))
        return -1;
    mem_entry *e = mem_find(c->tgid);
    if (e)
        return e->memfd;
    int mfd = open_as_owner(c);
    if (mfd < 0)
        return -1;
    /* Keep it (the process may become non-dumpable later, e.g. a second drop). */
    long pfd = syscall(__NR_pidfd_open, c->tgid, 0);
    if (pfd < 0) {
        close(mfd);
        return -1;
    }
    mem_entry *s = NULL;
    for (int i = 0; i < MEM_SLOTS && !s; i++)
        if (mem_cache[i].pidfd < 0)
            s = &mem_cache[i];
    if (!s)
        s = &mem_cache[(unsigned)c->tgid % MEM_SLOTS];
    mem_drop(s);
    s->tgid = c->tgid;
    s->pidfd = (int)pfd;
    s->memfd = mfd;
    return mfd;
}
