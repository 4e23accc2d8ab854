/* Test helper: run a program under a seccomp filter that makes one system call fail with
 * a given errno, then execute the program: seccomp_refuse NR ERRNO -- PROGRAM [ARGS...].
 * The filter stays on the program and everything it runs (its own calls included).
 * Used as (tests/runtime/conftest.py):
 * - nogetfd: pidfd_getfd (438) fails with EPERM, as Docker's default profile answers a
 *   container without CAP_SYS_PTRACE;
 * - nolandlock: landlock_create_ruleset (444) fails with ENOSYS, as on a kernel built
 *   without Landlock. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int number(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long nr, err;
    if (argc < 5 || strcmp(argv[3], "--") != 0 || number(argv[1], 0xffffffffUL, &nr) < 0 ||
        number(argv[2], SECCOMP_RET_DATA, &err) < 0) {
        fprintf(stderr, "usage: seccomp_refuse NR ERRNO -- PROGRAM [ARGS...]\n");
        return 2;
    }
    struct sock_filter prog[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned int)err),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog fp = {.len = sizeof(prog) / sizeof(prog[0]), .filter = prog};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) < 0) {
        perror("seccomp_refuse: seccomp");
        return 1;
    }
    execv(argv[4], argv + 4);
    perror("seccomp_refuse: exec");
    return 127;
}
