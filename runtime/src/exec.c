#include "exec.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/policy.h"
#include "log.h"
#include "phase.h"
#include "resolve.h"
#include "trust.h"

#define MAX_DEPTH 5      /* the kernel allows a few nested interpreters too */
#define BINPRM_BUF 256

static int reopen_ro(int opath_fd)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", opath_fd);
    int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

/* Resolve, check it is trusted, open and verify. Returns an fd or -errno. */
static int open_verified(const gsc_manifest *m, pid_t tid, pid_t tgid, int dirfd,
                         const char *path, int mode, const char *role, char *why,
                         size_t whylen)
{
    rt_resolved r;
    int e = rt_resolve(tid, tgid, dirfd, path, mode, 0, &r);
    if (e < 0) {
        snprintf(why, whylen, "%s %s: %s", role, path, strerror(-e));
        return e;
    }
    if (r.fd < 0) {
        snprintf(why, whylen, "%s %s: %s", role, r.path, strerror(ENOENT));
        rt_resolved_close(&r);
        return -ENOENT;
    }
    const gsc_trusted_file *t = NULL;
    enum gsc_policy_class cls = r.anon ? GSC_PATH_DENIED : gsc_policy_classify(m, r.path, &t);
    if (cls != GSC_PATH_TRUSTED || !t) {
        snprintf(why, whylen, "%s %s is not a trusted file", role, r.path);
        rt_resolved_close(&r);
        return -EACCES;
    }
    int fd = reopen_ro(r.fd);
    if (fd < 0) {
        snprintf(why, whylen, "%s %s: %s", role, r.path, strerror(-fd));
        rt_resolved_close(&r);
        return fd;
    }
    e = rt_trust_verify(t, fd);
    if (e < 0) {
        if (e == -EPERM)
            rt_phase_failure(t);
        if (e == -EPERM)
            LOG_ERR("policy: trusted file %s: SHA-256 mismatch, refusing to execute it",
                    r.path);
        snprintf(why, whylen, "%s %s failed verification (%s)", role, r.path,
                 e == -EPERM ? "hash mismatch" : strerror(-e));
        close(fd);
        rt_resolved_close(&r);
        return -EACCES;
    }
    LOG_TRACE("exec: %s %s verified", role, r.path);
    rt_resolved_close(&r);
    return fd;
}

static int read_interp(int fd, char *out, size_t outlen)
{
    Elf64_Ehdr eh;
    if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh))
        return -ENOEXEC;
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64)
        return -ENOEXEC; /* only x86-64 programs run under our filter */
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 4096)
        return -ENOEXEC;
    out[0] = 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        off_t off = (off_t)eh.e_phoff + (off_t)i * (off_t)sizeof(ph);
        if (pread(fd, &ph, sizeof(ph), off) != (ssize_t)sizeof(ph))
            return -ENOEXEC;
        if (ph.p_type != PT_INTERP)
            continue;
        if (ph.p_filesz < 2 || ph.p_filesz > outlen)
            return -ENOEXEC;
        if (pread(fd, out, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz)
            return -ENOEXEC;
        if (out[ph.p_filesz - 1] != 0 || strlen(out) != ph.p_filesz - 1)
            return -ENOEXEC;
        return 1;
    }
    return 0;
}

static int check(const gsc_manifest *m, pid_t tid, pid_t tgid, int dirfd, const char *path,
                 int mode, int depth, char *why, size_t whylen)
{
    if (depth > MAX_DEPTH) {
        snprintf(why, whylen, "interpreter chain too deep at %s", path);
        return -ELOOP;
    }
    const char *role = depth ? "interpreter" : "program";
    int fd = open_verified(m, tid, tgid, dirfd, path, mode, role, why, whylen);
    if (fd < 0)
        return fd;
    unsigned char buf[BINPRM_BUF + 1];
    ssize_t n = pread(fd, buf, BINPRM_BUF, 0);
    if (n < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    buf[n] = 0;
    if (n >= 4 && memcmp(buf, ELFMAG, SELFMAG) == 0) {
        char interp[PATH_MAX];
        int r = read_interp(fd, interp, sizeof(interp));
        close(fd);
        if (r < 0) {
            snprintf(why, whylen, "%s %s is not a usable x86-64 ELF", role, path);
            return r;
        }
        if (r == 0)
            return 0; /* static executable */
        int ifd = open_verified(m, tid, tgid, AT_FDCWD, interp, RT_FOLLOW, "ELF interpreter",
                                why, whylen);
        if (ifd < 0)
            return ifd;
        close(ifd);
        return 0;
    }
    close(fd);
    if (n >= 2 && buf[0] == '#' && buf[1] == '!') {
        /* Same parsing as the kernel's binfmt_script: first line, blanks, interpreter. */
        char *p = (char *)buf + 2;
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t il = strcspn(p, " \t");
        if (il == 0) {
            snprintf(why, whylen, "%s %s has an empty #! line", role, path);
            return -ENOEXEC;
        }
        p[il] = 0;
        return check(m, tid, tgid, AT_FDCWD, p, RT_FOLLOW, depth + 1, why, whylen);
    }
    return 0; /* trusted and verified; the kernel decides whether it is executable */
}

int rt_exec_check(const gsc_manifest *m, pid_t tid, pid_t tgid, int dirfd, const char *path,
                  int atflags, char *why, size_t whylen)
{
    int mode = (atflags & AT_SYMLINK_NOFOLLOW) ? 0 : RT_FOLLOW;
    if (atflags & AT_EMPTY_PATH)
        mode |= RT_EMPTY_OK;
    why[0] = 0;
    return check(m, tid, tgid, dirfd, path, mode, 0, why, whylen);
}
