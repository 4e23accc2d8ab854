/* Hand-written BPF from the call table (calls.c): x86-64 only (anything else is killed),
 * policed calls go to the supervisor (SECCOMP_RET_USER_NOTIF), calls that would let the
 * app escape the supervisor's view of the file system are refused, everything else runs
 * natively. */
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

#include "calls.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#define X32_SYSCALL_BIT 0x40000000u

#define NS_FLAGS                                                                          \
    (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |            \
     CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWTIME)

#define MAXPROG 1024
#define ARG_LO(i) ((unsigned)(offsetof(struct seccomp_data, args[0]) + 8 * (unsigned)(i)))

int rt_install_filter(pid_t supervisor, int sup_root, int opens)
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
    for (size_t i = 0; i < rt_ncalls; i++) {
        const rt_callspec *s = &rt_calls[i];
        if (n + 8 > MAXPROG)
            return -E2BIG;
        if (s->action == RT_NOTIFY) {
            if (!rt_call_notified(s, sup_root, opens))
                continue;
            unsigned body = 1 + (s->set_arg >= 0 ? 2 : 0) + (s->clear_arg >= 0 ? 2 : 0);
            unsigned char skip = (unsigned char)(body + (body > 1 ? 1 : 0));
            EMIT(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)s->nr, 0, skip);
            /* Conditions: jump to the trailing ALLOW when one does not hold. */
            unsigned left = body - 1; /* instructions after this point before RET NOTIF */
            if (s->set_arg >= 0) {
                EMIT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(s->set_arg), 0, 0);
                left -= 2;
                EMIT(BPF_JMP | BPF_JSET | BPF_K, s->set_mask, 0, (unsigned char)(left + 1));
            }
            if (s->clear_arg >= 0) {
                EMIT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(s->clear_arg), 0, 0);
                left -= 2;
                EMIT(BPF_JMP | BPF_JSET | BPF_K, s->clear_mask, (unsigned char)(left + 1), 0);
            }
            EMIT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF, 0, 0);
            if (body > 1)
                EMIT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
        } else if (s->action == RT_REFUSE) {
            EMIT(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)s->nr, 0, 1);
            EMIT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)s->err, 0, 0);
        } else if (s->action == RT_PIDGUARD) {
            /* the low 32 bits: the kernel reads a pid_t */
            EMIT(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)s->nr, 0, 4);
            EMIT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(s->arg), 0, 0);
            EMIT(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)supervisor, 0, 1);
            EMIT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM, 0, 0);
            EMIT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
        }
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
