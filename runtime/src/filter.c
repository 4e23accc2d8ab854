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
#include <stdlib.h>
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

typedef struct {
    struct sock_filter *prog;
    size_t n;
    pid_t supervisor;
} emitter;

/* A policed call: its number and its entry (NULL: clone's namespace check). */
typedef struct {
    unsigned nr;
    const rt_callspec *s;
} item;

#define EMIT(e, code, k, jt, jf)                                                          \
    ((e)->prog[(e)->n++] = (struct sock_filter)BPF_JUMP(code, k, jt, jf))

/* What happens to call it (the accumulator holds its number); every path returns. */
static void emit_action(emitter *e, const item *it)
{
    const rt_callspec *s = it->s;
    if (!s) {
        /* clone(flags, ...): no new namespaces (low 32 bits of args[0] hold all CLONE_NEW*). */
        EMIT(e, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]), 0, 0);
        EMIT(e, BPF_JMP | BPF_JSET | BPF_K, NS_FLAGS, 0, 1);
        EMIT(e, BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM, 0, 0);
        EMIT(e, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
    } else if (s->action == RT_NOTIFY) {
        /* Conditions: to the trailing ALLOW when one does not hold. */
        unsigned left = (s->set_arg >= 0 ? 2 : 0) + (s->clear_arg >= 0 ? 2 : 0);
        if (s->set_arg >= 0) {
            EMIT(e, BPF_LD | BPF_W | BPF_ABS, ARG_LO(s->set_arg), 0, 0);
            left -= 2;
            EMIT(e, BPF_JMP | BPF_JSET | BPF_K, s->set_mask, 0, (unsigned char)(left + 1));
        }
        if (s->clear_arg >= 0) {
            EMIT(e, BPF_LD | BPF_W | BPF_ABS, ARG_LO(s->clear_arg), 0, 0);
            left -= 2;
            EMIT(e, BPF_JMP | BPF_JSET | BPF_K, s->clear_mask, (unsigned char)(left + 1), 0);
        }
        EMIT(e, BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF, 0, 0);
        if (s->set_arg >= 0 || s->clear_arg >= 0)
            EMIT(e, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
    } else if (s->action == RT_REFUSE) {
        EMIT(e, BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)s->err, 0, 0);
    } else { /* RT_PIDGUARD: the low 32 bits, the kernel reads a pid_t */
        EMIT(e, BPF_LD | BPF_W | BPF_ABS, ARG_LO(s->arg), 0, 0);
        EMIT(e, BPF_JMP | BPF_JEQ | BPF_K, (unsigned)e->supervisor, 0, 1);
        EMIT(e, BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM, 0, 0);
        EMIT(e, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
    }
}

#define LEAF 4       /* calls compared one by one at the bottom of the tree */
#define ACTION_MAX 8 /* instructions of the longest emit_action */

/* A binary search over the sorted calls [lo, hi): about log2(n) comparisons for any
 * system call, policed or not (a linear chain costs every unpoliced call, read and write
 * included, one comparison per policed call). Jumps are forward only; a subtree may be
 * longer than a conditional jump reaches (255), so the right subtree is reached by BPF_JA
 * (32-bit offset). */
static int emit_tree(emitter *e, const item *it, size_t lo, size_t hi)
{
    if (hi - lo <= LEAF) {
        for (size_t i = lo; i < hi; i++) {
            if (e->n + ACTION_MAX + 2 > MAXPROG)
                return -E2BIG;
            size_t jeq = e->n;
            EMIT(e, BPF_JMP | BPF_JEQ | BPF_K, it[i].nr, 0, 0);
            emit_action(e, &it[i]);
            e->prog[jeq].jf = (unsigned char)(e->n - jeq - 1);
        }
        EMIT(e, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
        return 0;
    }
    if (e->n + 2 > MAXPROG)
        return -E2BIG;
    size_t mid = lo + (hi - lo) / 2;
    EMIT(e, BPF_JMP | BPF_JGE | BPF_K, it[mid].nr, 0, 1);
    size_t ja = e->n;
    EMIT(e, BPF_JMP | BPF_JA, 0, 0, 0);
    int r = emit_tree(e, it, lo, mid);
    if (r < 0)
        return r;
    e->prog[ja].k = (unsigned)(e->n - ja - 1);
    return emit_tree(e, it, mid, hi);
}

static int by_nr(const void *a, const void *b)
{
    unsigned x = ((const item *)a)->nr, y = ((const item *)b)->nr;
    return x < y ? -1 : x > y;
}

int rt_install_filter(pid_t supervisor, int sup_root, int opens)
{
    struct sock_filter prog[MAXPROG];
    emitter em = {.prog = prog, .n = 0, .supervisor = supervisor};
    emitter *e = &em;
    item items[128];
    size_t ni = 0;
    for (size_t i = 0; i < rt_ncalls; i++) {
        const rt_callspec *s = &rt_calls[i];
        if (s->action == RT_NOTIFY && !rt_call_notified(s, sup_root, opens))
            continue;
        if (ni == sizeof(items) / sizeof(items[0]) - 1)
            return -E2BIG;
        items[ni++] = (item){(unsigned)s->nr, s};
    }
    items[ni++] = (item){__NR_clone, NULL};
    qsort(items, ni, sizeof(items[0]), by_nr);
    for (size_t i = 1; i < ni; i++)
        if (items[i].nr == items[i - 1].nr)
            return -EINVAL; /* one entry per call (calls.c) */
    EMIT(e, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), 0, 0);
    EMIT(e, BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    EMIT(e, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS, 0, 0);
    EMIT(e, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), 0, 0);
    /* x32 ABI numbers share the x86-64 arch value: refuse them all. */
    EMIT(e, BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 1);
    EMIT(e, BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS, 0, 0);
    int r = emit_tree(e, items, 0, ni);
    if (r < 0)
        return r;
    size_t n = em.n;
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
