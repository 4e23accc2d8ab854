/* Hand-written BPF: x86-64 only (anything else is killed), path and exec calls go to the
 * supervisor (SECCOMP_RET_USER_NOTIF), calls that would let the app escape the
 * supervisor's view of the file system are refused, everything else runs natively. */
#include "filter.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_openat2
#define __NR_openat2 437
#endif
#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __NR_mount_setattr
#define __NR_mount_setattr 442
#endif
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#define X32_SYSCALL_BIT 0x40000000u

/* Decided by the supervisor. */
static const int notified[] = {
    __NR_open, __NR_openat, __NR_openat2, __NR_creat, __NR_execve, __NR_execveat,
    __NR_truncate, __NR_rename, __NR_renameat, __NR_renameat2, __NR_unlink, __NR_unlinkat,
    __NR_link, __NR_linkat, __NR_symlink, __NR_symlinkat, __NR_mkdir, __NR_mkdirat,
    __NR_rmdir, __NR_chmod, __NR_fchmodat, __NR_fchmodat2, __NR_chown, __NR_lchown,
    __NR_fchownat, __NR_mknod, __NR_mknodat, __NR_utime, __NR_utimes, __NR_futimesat,
    __NR_utimensat, __NR_setxattr, __NR_lsetxattr, __NR_removexattr, __NR_lremovexattr,
};

/* Also decided by the supervisor when it runs as root: it caches the app threads'
 * credentials and must see every call that may change them (it lets them run). */
static const int cred_calls[] = {
    __NR_setuid,    __NR_setgid,    __NR_setreuid, __NR_setregid,  __NR_setresuid,
    __NR_setresgid, __NR_setfsuid,  __NR_setfsgid, __NR_setgroups,
};

/* Refused outright: they change what a path means for the app but not for the supervisor
 * (chroot, mounts, namespaces), bypass path checks (open_by_handle_at, io_uring's own
 * openat), or hide clone flags from the filter (clone3 -> ENOSYS, libc falls back). */
static const struct {
    int nr;
    int err;
} refused[] = {
    {__NR_chroot, EPERM},        {__NR_pivot_root, EPERM},     {__NR_mount, EPERM},
    {__NR_umount2, EPERM},       {__NR_unshare, EPERM},        {__NR_setns, EPERM},
    {__NR_open_by_handle_at, EPERM}, {__NR_io_uring_setup, EPERM}, {__NR_clone3, ENOSYS},
    {__NR_open_tree, EPERM},     {__NR_move_mount, EPERM},     {__NR_fsopen, EPERM},
    {__NR_fsmount, EPERM},       {__NR_fspick, EPERM},         {__NR_mount_setattr, EPERM},
};

#define NS_FLAGS                                                                          \
    (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |            \
     CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWTIME)

/* Refused when their pid argument (low 32 bits, as the kernel reads a pid_t) names the
 * supervisor: non-dumpable stops an app without CAP_SYS_PTRACE, these stop one with it
 * (docker run --cap-add SYS_PTRACE, --privileged, or root on the host). */
static const struct {
    int nr;
    int arg;
} pid_guarded[] = {
    {__NR_ptrace, 1},
    {__NR_process_vm_readv, 0},
    {__NR_process_vm_writev, 0},
    {__NR_pidfd_open, 0},
};

#define NNOTIFIED (sizeof(notified) / sizeof(notified[0]))
#define NCRED (sizeof(cred_calls) / sizeof(cred_calls[0]))
#define NREFUSED (sizeof(refused) / sizeof(refused[0]))
#define NGUARDED (sizeof(pid_guarded) / sizeof(pid_guarded[0]))
#define MAXPROG (8 + 2 * NNOTIFIED + 2 * NCRED + 2 * NREFUSED + 5 * NGUARDED + 8)

int rt_install_filter(pid_t supervisor, int notify_creds)
{
    struct sock_filter prog[MAXPROG];
    size_t n = 0;
#define EMIT(code, k, jt, jf) (prog[n++] = (struct sock_filter)BPF_JUMP(code, k, jt, jf))
    EMIT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), 0, 0);
    EMIT(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    EMIT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS, 0, 0);
    EMIT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), 0, 0);
    /* x32 ABI numbers share the x86-64 arch value: refuse them all. */
    EMIT(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 1);
    EMIT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS, 0, 0);
    for (size_t i = 0; i < NNOTIFIED; i++) {
        EMIT(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)notified[i], 0, 1);
        EMIT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF, 0, 0);
    }
    for (size_t i = 0; notify_creds && i < NCRED; i++) {
        EMIT(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)cred_calls[i], 0, 1);
        EMIT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF, 0, 0);
    }
    for (size_t i = 0; i < NREFUSED; i++) {
        EMIT(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)refused[i].nr, 0, 1);
        EMIT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)refused[i].err, 0, 0);
    }
    for (size_t i = 0; i < NGUARDED; i++) {
        EMIT(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)pid_guarded[i].nr, 0, 4);
        EMIT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]) +
                                           8 * (unsigned)pid_guarded[i].arg, 0, 0);
        EMIT(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)supervisor, 0, 1);
        EMIT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM, 0, 0);
        EMIT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
    }
    /* clone(flags, ...): no new namespaces (low 32 bits of args[0] hold all CLONE_NEW*). */
    EMIT(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 4);
    EMIT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]), 0, 0);
    EMIT(BPF_JMP | BPF_JSET | BPF_K, NS_FLAGS, 0, 1);
    EMIT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM, 0, 0);
    EMIT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
    EMIT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
#undef EMIT

    struct sock_fprog fprog = {.len = (unsigned short)n, .filter = prog};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    long fd = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
                      &fprog);
    if (fd < 0)
        return -errno;
    return (int)fd;
}
