#include "calls.h"

#include <errno.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/syscall.h>

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

#define OPEN(nr) {nr, #nr + 5, RT_NOTIFY, RT_F_OPEN, rt_h_open, 0, 0, -1, -1, 0, 0, {0}}
#define EXEC(nr) {nr, #nr + 5, RT_NOTIFY, 0, rt_h_exec, 0, 0, -1, -1, 0, 0, {0}}
#define CRED(nr) {nr, #nr + 5, RT_NOTIFY, RT_F_ROOT, rt_h_creds, 0, 0, -1, -1, 0, 0, {0}}
#define MOD(nr, ...)                                                                      \
    {nr, #nr + 5, RT_NOTIFY, RT_F_PATHMOD, rt_h_modify, 0, 0, -1, -1, 0, 0,   \
     __VA_ARGS__}
#define REFUSE(nr, e) {nr, #nr + 5, RT_REFUSE, 0, NULL, e, 0, -1, -1, 0, 0, {0}}
#define GUARD(nr, a) {nr, #nr + 5, RT_PIDGUARD, 0, NULL, 0, a, -1, -1, 0, 0, {0}}

#define F RT_FOLLOWS
#define NF RT_NOFOLLOW
#define FUN RT_FOLLOW_UNLESS_NOFOLLOW
#define FIF RT_FOLLOW_IF_FOLLOW

const rt_callspec rt_calls[] = {
    /* Opens: hash verification of trusted files, policy without Landlock, logging. */
    OPEN(__NR_open), OPEN(__NR_openat), OPEN(__NR_openat2), OPEN(__NR_creat),
    /* Execs: the program and its interpreters must be verified trusted files. */
    EXEC(__NR_execve), EXEC(__NR_execveat),
    /* Executable file mappings: only verified trusted files (anonymous ones run natively). */
    {__NR_mmap, "mmap", RT_NOTIFY, 0, rt_h_mmap, 0, 0, 2, 3, PROT_EXEC, MAP_ANONYMOUS, {0}},
    {__NR_mprotect, "mprotect", RT_NOTIFY, 0, rt_h_mmap, 0, 0, 2, -1, PROT_EXEC, 0, {0}},
    {__NR_pkey_mprotect, "pkey_mprotect", RT_NOTIFY, 0, rt_h_mmap, 0, 0, 2, -1, PROT_EXEC, 0,
     {0}},
    /* connect: the supervisor connects the app's socket itself (pathname unix sockets
     * only at allowed paths; h_connect.c). */
    {__NR_connect, "connect", RT_NOTIFY, 0, rt_h_connect, 0, 0, -1, -1, 0, 0, {0}},
    /* Credential changes: the root supervisor's caches (credentials, memory descriptors). */
    CRED(__NR_setuid), CRED(__NR_setgid), CRED(__NR_setreuid), CRED(__NR_setregid),
    CRED(__NR_setresuid), CRED(__NR_setresgid), CRED(__NR_setfsuid), CRED(__NR_setfsgid),
    CRED(__NR_setgroups),
    /* Path-modifying calls: Landlock (and DAC) decide; the supervisor only without it. */
    MOD(__NR_truncate, {1, {-1}, {0}, {F}, -1, 1, 0}),
    MOD(__NR_rename, {2, {-1, -1}, {0, 1}, {NF, NF}, -1, 0, 0}),
    MOD(__NR_renameat, {2, {0, 2}, {1, 3}, {NF, NF}, -1, 0, 0}),
    MOD(__NR_renameat2, {2, {0, 2}, {1, 3}, {NF, NF}, -1, 0, 0}),
    MOD(__NR_unlink, {1, {-1}, {0}, {NF}, -1, 0, 0}),
    MOD(__NR_unlinkat, {1, {0}, {1}, {NF}, -1, 0, 0}),
    MOD(__NR_link, {2, {-1, -1}, {0, 1}, {NF, NF}, -1, 0, 0}),
    MOD(__NR_linkat, {2, {0, 2}, {1, 3}, {FIF, NF}, 4, 0, 0}),
    MOD(__NR_symlink, {1, {-1}, {1}, {NF}, -1, 0, 0}),
    MOD(__NR_symlinkat, {1, {1}, {2}, {NF}, -1, 0, 0}),
    MOD(__NR_mkdir, {1, {-1}, {0}, {NF}, -1, 0, 0}),
    MOD(__NR_mkdirat, {1, {0}, {1}, {NF}, -1, 0, 0}),
    MOD(__NR_rmdir, {1, {-1}, {0}, {NF}, -1, 0, 0}),
    MOD(__NR_chmod, {1, {-1}, {0}, {F}, -1, 0, 0}),
    MOD(__NR_fchmodat, {1, {0}, {1}, {F}, -1, 0, 0}),
    MOD(__NR_fchmodat2, {1, {0}, {1}, {FUN}, 3, 0, 0}),
    MOD(__NR_chown, {1, {-1}, {0}, {F}, -1, 0, 0}),
    MOD(__NR_lchown, {1, {-1}, {0}, {NF}, -1, 0, 0}),
    MOD(__NR_fchownat, {1, {0}, {1}, {FUN}, 4, 0, 0}),
    MOD(__NR_mknod, {1, {-1}, {0}, {NF}, -1, 0, 0}),
    MOD(__NR_mknodat, {1, {0}, {1}, {NF}, -1, 0, 0}),
    MOD(__NR_utime, {1, {-1}, {0}, {F}, -1, 0, 0}),
    MOD(__NR_utimes, {1, {-1}, {0}, {F}, -1, 0, 0}),
    MOD(__NR_futimesat, {1, {0}, {1}, {F}, -1, 0, 1}),
    MOD(__NR_utimensat, {1, {0}, {1}, {FUN}, 3, 0, 1}),
    MOD(__NR_setxattr, {1, {-1}, {0}, {F}, -1, 0, 0}),
    MOD(__NR_lsetxattr, {1, {-1}, {0}, {NF}, -1, 0, 0}),
    MOD(__NR_removexattr, {1, {-1}, {0}, {F}, -1, 0, 0}),
    MOD(__NR_lremovexattr, {1, {-1}, {0}, {NF}, -1, 0, 0}),
    /* Refused outright: they change what a path means for the app but not for the
     * supervisor (chroot, mounts, namespaces), bypass path checks (open_by_handle_at,
     * io_uring's own openat), or hide clone flags from the filter (clone3 -> ENOSYS, libc
     * falls back to clone, whose flags the filter checks). */
    REFUSE(__NR_chroot, EPERM), REFUSE(__NR_pivot_root, EPERM), REFUSE(__NR_mount, EPERM),
    REFUSE(__NR_umount2, EPERM), REFUSE(__NR_unshare, EPERM), REFUSE(__NR_setns, EPERM),
    REFUSE(__NR_open_by_handle_at, EPERM), REFUSE(__NR_io_uring_setup, EPERM),
    REFUSE(__NR_clone3, ENOSYS), REFUSE(__NR_open_tree, EPERM), REFUSE(__NR_move_mount, EPERM),
    REFUSE(__NR_fsopen, EPERM), REFUSE(__NR_fsmount, EPERM), REFUSE(__NR_fspick, EPERM),
    REFUSE(__NR_mount_setattr, EPERM),
    /* Refused when their pid argument names the supervisor: non-dumpable stops an app
     * without CAP_SYS_PTRACE, these stop one with it. */
    GUARD(__NR_ptrace, 1), GUARD(__NR_process_vm_readv, 0), GUARD(__NR_process_vm_writev, 0),
    GUARD(__NR_pidfd_open, 0),
};

const size_t rt_ncalls = sizeof(rt_calls) / sizeof(rt_calls[0]);

int rt_call_notified(const rt_callspec *s, int sup_root, int opens)
{
    if (s->action != RT_NOTIFY)
        return 0;
    if ((s->flags & RT_F_ROOT) && !sup_root)
        return 0;
    if ((s->flags & RT_F_OPEN) && !opens)
        return 0;
    return 1;
}

const rt_callspec *rt_call_lookup(int nr)
{
    for (size_t i = 0; i < rt_ncalls; i++)
        if (rt_calls[i].nr == nr)
            return &rt_calls[i];
    return NULL;
}
