/* /dev/attestation, Gramine's interface, simulated (docs/runtime.md, "/dev/attestation";
 * docs/attestation.md, "The runtime side").
 *
 * The directory does not exist in the container: opens of its files are recognised by
 * their literal path before the kernel sees them (h_open.c) and answered with descriptors
 * the supervisor made:
 *   attestation_type   read: "simulated"
 *   user_report_data   read/write, 64 bytes  } one memfd per process (tgid), fixed size
 *   target_info        read/write, 512 bytes } (sealed against growing and shrinking)
 *   my_target_info     read: this enclave's 512-byte TARGETINFO
 *   report             read: a 432-byte SGX REPORT (body: the identity verified at launch,
 *                      the process's user_report_data; KEYID and MAC zero: nothing here can
 *                      compute an EREPORT MAC)
 *   quote              read: a simulated DCAP quote v3 (gsc_sim_quote) over the same body
 *   keys/NAME          write-only, 16 bytes: the wrap key NAME of encrypted mounts
 * The report and quote are made when they are opened, from the first 64 bytes of the
 * process's user_report_data memfd at that moment. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "attest_quote.h"
#include "creds.h"
#include "h_special.h"
#include "log.h"

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

#define PREFIX "/dev/attestation/"
#define SGX_FLAGS_INITTED 0x1ull

static struct {
    uint8_t mrenclave[32], mrsigner[32];
    uint64_t flags, xfrm;
    uint16_t isvprodid, isvsvn;
} id;

typedef struct {
    pid_t tgid;
    int pidfd;          /* -1 without pidfd_open: keyed by tgid alone */
    int urd, ti;        /* user_report_data (64) and target_info (512) memfds, or -1 */
} proc_state;

static proc_state *procs;
static size_t nprocs, cap_procs;

void rt_attest_init(const rt_launch *L)
{
    memcpy(id.mrenclave, L->mrenclave, 32);
    memcpy(id.mrsigner, L->sig.mrsigner, 32);
    /* EINIT sets INITTED; the rest is what the SIGSTRUCT (verified at launch) asks for. */
    id.flags = L->sig.attributes_flags | SGX_FLAGS_INITTED;
    id.xfrm = L->sig.attributes_xfrm;
    id.isvprodid = L->sig.isv_prod_id;
    id.isvsvn = L->sig.isv_svn;
}

int rt_attest_path(const char *path)
{
    return strncmp(path, PREFIX, sizeof(PREFIX) - 1) == 0;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int dead(const proc_state *s)
{
    if (s->pidfd < 0)
        return 0;
    struct pollfd p = {.fd = s->pidfd, .events = POLLIN};
    return poll(&p, 1, 0) == 1; /* readable: the process has exited */
}

static void drop(proc_state *s)
{
    if (s->pidfd >= 0)
        close(s->pidfd);
    if (s->urd >= 0)
        close(s->urd);
    if (s->ti >= 0)
        close(s->ti);
    *s = procs[--nprocs];
}

/* The state of c's process, made on first use; NULL on failure. c->tgid must be known. */
static proc_state *state_of(call *c)
{
    for (size_t i = 0; i < nprocs;) {
        if (dead(&procs[i])) {
            drop(&procs[i]);
            continue;
        }
        if (procs[i].tgid == c->tgid)
            return &procs[i];
        i++;
    }
    if (nprocs == cap_procs) {
        size_t n = cap_procs ? cap_procs * 2 : 16;
        proc_state *p = realloc(procs, n * sizeof(*p));
        if (!p)
            return NULL;
        procs = p;
        cap_procs = n;
    }
    int pfd = (int)syscall(__NR_pidfd_open, c->tgid, 0);
    /* The call is still pending, so tgid named the caller's process when pidfd_open ran. */
    if (!rt_still_valid(c)) {
        if (pfd >= 0)
            close(pfd);
        return NULL;
    }
    proc_state *s = &procs[nprocs++];
    s->tgid = c->tgid;
    s->pidfd = pfd;
    s->urd = s->ti = -1;
    return s;
}

/* A fixed-size, zero-filled memfd the app may write (no growing or shrinking). */
static int fixed_memfd(const char *label, size_t len)
{
    int fd = memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)len) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

static int reopen_fd(int fd, int accmode)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
    int r = open(p, accmode | O_CLOEXEC);
    return r < 0 ? -errno : r;
}

int rt_sealed_memfd(const char *label, const void *data, size_t len)
{
    int fd = memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    const uint8_t *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, p + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return -EIO;
        }
        done += (size_t)n;
    }
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    int ro = reopen_fd(fd, O_RDONLY);
    close(fd);
    return ro;
}

static void report_body(uint8_t b[384], const uint8_t rd[64])
{
    /* CPUSVN, MISCSELECT, CONFIGID, CONFIGSVN, ISVEXTPRODID, ISVFAMILYID: zero, as in the
     * simulated quote's body (attest_quote.c). */
    memset(b, 0, 384);
    put64(b + 48, id.flags);
    put64(b + 56, id.xfrm);
    memcpy(b + 64, id.mrenclave, 32);
    memcpy(b + 128, id.mrsigner, 32);
    put16(b + 256, id.isvprodid);
    put16(b + 258, id.isvsvn);
    memcpy(b + 320, rd, 64);
}

static void target_info(uint8_t t[512])
{
    memset(t, 0, 512);
    memcpy(t, id.mrenclave, 32);
    put64(t + 32, id.flags);
    put64(t + 40, id.xfrm);
}

static void answer_fd(call *c, int fd, int flags, const char *name)
{
    if (fd < 0) {
        LOG_WARN("attestation: %s: cannot make the file: %s (pid %d)", name, strerror(-fd),
                 (int)c->tid);
        return rt_respond(c, -EIO, 0);
    }
    LOG_DEBUG("attestation: open %s%s (pid %d)", PREFIX, name, (int)c->tid);
    rt_inject(c, fd, (flags & O_CLOEXEC) != 0);
}

void rt_attest_open(call *c, const char *path, int flags)
{
    const char *name = path + sizeof(PREFIX) - 1;
    int acc = flags & O_ACCMODE;
    int writes = acc != O_RDONLY;
    if (flags & O_PATH)
        return rt_respond(c, -EACCES, 0);
    if (strcmp(name, "attestation_type") == 0 || strcmp(name, "my_target_info") == 0 ||
        strcmp(name, "report") == 0 || strcmp(name, "quote") == 0) {
        if (writes || (flags & (O_TRUNC | O_DIRECTORY)))
            return rt_respond(c, (flags & O_DIRECTORY) ? -ENOTDIR : -EACCES, 0);
        if (strcmp(name, "attestation_type") == 0)
            return answer_fd(c, rt_sealed_memfd("attestation_type", "simulated", 9), flags, name);
        if (strcmp(name, "my_target_info") == 0) {
            uint8_t t[512];
            target_info(t);
            return answer_fd(c, rt_sealed_memfd("my_target_info", t, sizeof(t)), flags, name);
        }
        /* report, quote: the process's report data now. */
        if (rt_creds_load(c, 0) < 0 || !rt_still_valid(c))
            return rt_respond(c, -EACCES, 0);
        proc_state *s = state_of(c);
        if (!s)
            return rt_respond(c, -ENOMEM, 0);
        uint8_t rd[64];
        memset(rd, 0, sizeof(rd));
        if (s->urd >= 0 && pread(s->urd, rd, sizeof(rd), 0) < 0)
            memset(rd, 0, sizeof(rd));
        if (strcmp(name, "report") == 0) {
            uint8_t rep[432];
            memset(rep, 0, sizeof(rep));
            report_body(rep, rd); /* KEYID (384..415) and MAC (416..431) stay zero */
            return answer_fd(c, rt_sealed_memfd("report", rep, sizeof(rep)), flags, name);
        }
        size_t cap = gsc_sim_quote_size(), len = 0;
        uint8_t *q = malloc(cap);
        if (!q)
            return rt_respond(c, -ENOMEM, 0);
        int e = gsc_sim_quote(id.mrenclave, id.mrsigner, id.flags, id.xfrm, id.isvprodid,
                              id.isvsvn, rd, q, cap, &len);
        int fd = e < 0 ? e : rt_sealed_memfd("quote", q, len);
        free(q);
        return answer_fd(c, fd, flags, name);
    }
    if (strcmp(name, "user_report_data") == 0 || strcmp(name, "target_info") == 0) {
        if (flags & O_DIRECTORY)
            return rt_respond(c, -ENOTDIR, 0);
        int urd = name[0] == 'u';
        if (rt_creds_load(c, 0) < 0 || !rt_still_valid(c))
            return rt_respond(c, -EACCES, 0);
        proc_state *s = state_of(c);
        if (!s)
            return rt_respond(c, -ENOMEM, 0);
        int *slot = urd ? &s->urd : &s->ti;
        if (*slot < 0 && (*slot = fixed_memfd(name, urd ? 64 : 512)) < 0) {
            int e = *slot;
            *slot = -1;
            return answer_fd(c, e, flags, name);
        }
        /* Its own open file description (own offset), the app's access mode. */
        return answer_fd(c, reopen_fd(*slot, acc == O_ACCMODE ? O_RDWR : acc), flags, name);
    }
    if (strncmp(name, "keys/", 5) == 0) {
        if (acc != O_WRONLY) {
            LOG_ERR("attestation: %s: keys are write-only here (pid %d)", path, (int)c->tid);
            return rt_respond(c, -EACCES, 0);
        }
        int fd = rt_enc_key_fd(name + 5, O_WRONLY);
        if (fd == -ENOENT) {
            LOG_ERR("attestation: %s: no encrypted mount uses this key (pid %d)", path,
                    (int)c->tid);
            return rt_respond(c, -ENOENT, 0);
        }
        return answer_fd(c, fd, flags, name);
    }
    rt_respond(c, -ENOENT, 0);
}
