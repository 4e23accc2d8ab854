#include "notif.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "creds.h"
#include "log.h"
#include "ratelog.h"

int rt_vm_readv_ok = 1;     /* process_vm_readv usable (else /proc/TID/mem) */

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif

/* pidfd_getfd usable at all: asked once, of our own process (the kernel's ptrace check
 * always lets a process take its own descriptors, so EPERM or ENOSYS here means a seccomp
 * profile or the kernel refuses the call: Docker's default profile allows pidfd_getfd only
 * with CAP_SYS_PTRACE). Asked first from the supervisor's main thread. */
int rt_getfd_usable(void)
{
    static int known, usable;
    if (known)
        return usable;
    long pfd = syscall(__NR_pidfd_open, getpid(), 0);
    if (pfd >= 0) {
        long g = syscall(__NR_pidfd_getfd, (int)pfd, (int)pfd, 0);
        int e = errno;
        if (g >= 0) {
            usable = 1;
            close((int)g);
        } else {
            LOG_DEBUG("pidfd_getfd refused (%s): connect and mmap checks use /proc",
                      strerror(e));
        }
        close((int)pfd);
    }
    known = 1;
    return usable;
}

void rt_call_init(call *c, const gsc_manifest *m, int nfd, uint64_t id, pid_t tid)
{
    memset(c, 0, sizeof(*c));
    c->m = m;
    c->nfd = nfd;
    c->id = id;
    c->tid = tid;
    c->memfd = -1;
}

void rt_call_done(call *c)
{
    if (c->memfd >= 0 && !c->memfd_borrowed)
        close(c->memfd);
    c->memfd = -1;
}

void rt_respond(call *c, int err, int cont)
{
    struct seccomp_notif_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.id = c->id;
    resp.error = cont ? 0 : err;
    resp.flags = cont ? SECCOMP_USER_NOTIF_FLAG_CONTINUE : 0;
    c->answered = 1;
    if (ioctl(c->nfd, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 && errno != ENOENT)
        LOG_WARN("cannot answer notification: %s", strerror(errno));
}

int rt_still_valid(const call *c)
{
    uint64_t id = c->id;
    return ioctl(c->nfd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

void rt_inject(call *c, int fd, int cloexec)
{
    struct seccomp_notif_addfd a;
    memset(&a, 0, sizeof(a));
    a.id = c->id;
    a.flags = SECCOMP_ADDFD_FLAG_SEND;
    a.srcfd = (uint32_t)fd;
    a.newfd_flags = cloexec ? O_CLOEXEC : 0;
    c->answered = 1;
    if (ioctl(c->nfd, SECCOMP_IOCTL_NOTIF_ADDFD, &a) < 0) {
        int e = errno;
        if (e != ENOENT) {
            LOG_WARN("cannot hand descriptor to the app: %s", strerror(e));
            rt_respond(c, -e, 0);
        }
    }
    close(fd);
}

/* Read len bytes of the app thread's memory at addr: process_vm_readv (one system call),
 * else /proc/TID/mem (when a seccomp profile refuses process_vm_readv, or the thread is no
 * longer inspectable but a descriptor opened earlier is cached: see creds.c). Returns the
 * number of bytes read, -EFAULT for an address the app cannot read either, -EACCES when
 * the thread's memory cannot be read at all (non-dumpable, gone). What was read is only
 * used after rt_still_valid(): the tid may have been reused by then. */
static ssize_t peek(call *c, uint64_t addr, void *out, size_t len)
{
    if (c->memfd < 0 && rt_vm_readv_ok) {
        struct iovec l = {.iov_base = out, .iov_len = len};
        struct iovec r = {.iov_base = (void *)(uintptr_t)addr, .iov_len = len};
        ssize_t n = process_vm_readv(c->tid, &l, 1, &r, 1, 0);
        if (n >= 0)
            return n;
        if (errno == EFAULT)
            return -EFAULT;
        if (errno == ENOSYS)
            rt_vm_readv_ok = 0;
        /* EPERM (not permitted, or refused by a seccomp profile such as Docker's before
         * 23.0), ESRCH ...: try /proc/TID/mem, which says the same or works. */
        c->vm_eperm = errno == EPERM;
    }
    if (c->memfd < 0) {
        int fd = rt_memfd_get(c);
        if (fd >= 0) {
            c->memfd = fd;
            c->memfd_borrowed = 1;
        } else {
            char p[64];
            snprintf(p, sizeof(p), "/proc/%d/mem", (int)c->tid);
            c->memfd = open(p, O_RDONLY | O_CLOEXEC);
            if (c->memfd < 0)
                return -EACCES;
            /* The same access check passed here (our real and file system credentials
             * are the same while we read): process_vm_readv is refused by policy. */
            if (c->vm_eperm)
                rt_vm_readv_ok = 0;
        }
    }
    ssize_t n = pread(c->memfd, out, len, (off_t)addr);
    return n < 0 ? -EFAULT : n;
}

int rt_read_mem(call *c, uint64_t addr, void *out, size_t len)
{
    ssize_t n = peek(c, addr, out, len);
    if (n < 0)
        return (int)n;
    return n == (ssize_t)len ? 0 : -EFAULT;
}

/* NUL-terminated string at addr, read page by page so an unmapped page past the NUL does
 * not fail the read. */
int rt_read_str(call *c, uint64_t addr, char *out, size_t outlen)
{
    if (addr == 0)
        return -EFAULT;
    size_t got = 0;
    while (got < outlen) {
        uint64_t a = addr + got;
        size_t chunk = 4096 - (size_t)(a & 4095);
        if (chunk > outlen - got)
            chunk = outlen - got;
        ssize_t n = peek(c, a, out + got, chunk);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -EFAULT;
        void *z = memchr(out + got, 0, (size_t)n);
        if (z)
            return 0;
        got += (size_t)n;
    }
    return -ENAMETOOLONG;
}

void rt_read_failed(call *c, int e)
{
    if (!rt_still_valid(c)) {
        c->answered = 1;
        return;
    }
    if (e == -EACCES)
        rt_note_uninspectable(c->tid);
    rt_respond(c, e, 0);
}

