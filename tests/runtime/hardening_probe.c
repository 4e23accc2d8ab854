/* Probe for tests/runtime/test_hardening.py: runs each argv[i] as one command
 * ("verb arg arg ..."), prints "<command> => OK" or "=> <ERRNO NAME>" per command.
 * In arguments, %P is replaced by the parent's pid (the supervisor), %S by our own. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <grp.h>
#include <time.h>
#include <unistd.h>

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#define X32 0x40000000

static void subst(const char *in, char *out, size_t n)
{
    size_t k = 0;
    for (; *in && k + 16 < n; in++) {
        if (in[0] == '%' && (in[1] == 'P' || in[1] == 'S')) {
            k += (size_t)snprintf(out + k, n - k, "%d", in[1] == 'P' ? (int)getppid() : (int)getpid());
            in++;
        } else {
            out[k++] = *in;
        }
    }
    out[k] = 0;
}

static int res(long r)
{
    return r < 0 ? errno : 0;
}

static int open_ro(const char *path)
{
    int fd = open(path, O_RDONLY);
    return fd < 0 ? errno : (close(fd), 0);
}

/* For the credentials cache tests: a thread changes only its own credentials (the raw
 * system call, not glibc's process-wide setresuid) and then opens or execs. */
struct thr {
    uid_t uid;
    const char *path, *prog;
    int result;
};

static void *thread_open_as(void *arg)
{
    struct thr *t = arg;
    if (syscall(SYS_setresgid, t->uid, t->uid, t->uid) < 0 ||
        syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresuid, t->uid, t->uid, t->uid) < 0)
        t->result = 1000 + errno;
    else
        t->result = open_ro(t->path);
    return NULL;
}

static volatile int exec_done;

/* The leader keeps opening (so its credentials are looked up and cached while a sibling
 * execs); the sibling drops to uid and execs prog "open path": after the exec it is the
 * leader, with the leader's tid but its own credentials. */
static void *thread_exec_as(void *arg)
{
    struct thr *t = arg;
    if (syscall(SYS_setresgid, t->uid, t->uid, t->uid) < 0 ||
        syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresuid, t->uid, t->uid, t->uid) < 0) {
        t->result = 1000 + errno;
        exec_done = 1;
        return NULL;
    }
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "open %s", t->path);
    char *av[] = {"probe", cmd, NULL}, *ev[] = {NULL};
    syscall(SYS_execve, t->prog, av, ev);
    t->result = errno;
    exec_done = 1;
    return NULL;
}

static int run(char **a, int n)
{
    const char *v = a[0];
    if (!strcmp(v, "open-rw") && n == 2) {
        int fd = open(a[1], O_RDWR);
        return fd < 0 ? errno : (close(fd), 0);
    }
    if (!strcmp(v, "open") && n == 2)
        return open_ro(a[1]);
    if (!strcmp(v, "cat") && n == 2) { /* prints the contents after the result line */
        int fd = open(a[1], O_RDONLY);
        if (fd < 0)
            return errno;
        char buf[8192];
        ssize_t r = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (r < 0)
            return errno;
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] == 0)
                buf[i] = '\n';
        buf[r] = 0;
        fprintf(stderr, "%s", buf);
        return 0;
    }
    if (!strcmp(v, "chdir-open") && n == 3) {
        if (chdir(a[1]) < 0)
            return 1000 + errno;
        int fd = open(a[2], O_RDWR);
        if (fd < 0)
            fd = open(a[2], O_RDONLY);
        return fd < 0 ? errno : (close(fd), 0);
    }
    if (!strcmp(v, "symlink-open") && n == 3) { /* symlink a[2] -> a[1], open a[2] */
        if (symlink(a[1], a[2]) < 0)
            return 1000 + errno;
        int fd = open(a[2], O_RDWR);
        if (fd < 0)
            fd = open(a[2], O_RDONLY);
        return fd < 0 ? errno : (close(fd), 0);
    }
    if (!strcmp(v, "openat2-xdev") && n == 3) { /* chdir a[1]; openat2(a[2], NO_XDEV) */
        if (chdir(a[1]) < 0)
            return 1000 + errno;
        struct open_how how = {.flags = O_RDONLY | O_DIRECTORY, .resolve = RESOLVE_NO_XDEV};
        long fd = syscall(SYS_openat2, AT_FDCWD, a[2], &how, sizeof(how));
        return fd < 0 ? errno : (close((int)fd), 0);
    }
    if (!strcmp(v, "setuid") && n == 2) { /* process-wide, as glibc does it */
        uid_t u = (uid_t)atoi(a[1]);
        if (setresgid(u, u, u) < 0 || setgroups(0, NULL) < 0)
            return 1000 + errno;
        return res(setresuid(u, u, u));
    }
    if (!strcmp(v, "thread-open-as") && n == 3) { /* a thread drops to uid a[1], opens a[2] */
        struct thr t = {.uid = (uid_t)atoi(a[1]), .path = a[2]};
        pthread_t th;
        if (pthread_create(&th, NULL, thread_open_as, &t) != 0)
            return 2000;
        pthread_join(th, NULL);
        return t.result;
    }
    if (!strcmp(v, "thread-exec-as") && n == 5) { /* uid a[1], prog a[2], path a[3], loop a[4] */
        struct thr t = {.uid = (uid_t)atoi(a[1]), .prog = a[2], .path = a[3]};
        pthread_t th;
        if (pthread_create(&th, NULL, thread_exec_as, &t) != 0)
            return 2000;
        while (!exec_done)
            open_ro(a[4]);
        pthread_join(th, NULL);
        return t.result ? t.result : 3000; /* only reached if the exec failed */
    }
    if (!strcmp(v, "ptrace-seize-parent"))
        return res(ptrace(PTRACE_SEIZE, getppid(), 0, 0));
    if (!strcmp(v, "vmread-parent")) {
        char b;
        struct iovec l = {&b, 1}, r = {(void *)0x1000, 1};
        return res(process_vm_readv(getppid(), &l, 1, &r, 1, 0));
    }
    if (!strcmp(v, "vmwrite-parent")) {
        char b = 0;
        struct iovec l = {&b, 1}, r = {(void *)0x1000, 1};
        return res(process_vm_writev(getppid(), &l, 1, &r, 1, 0));
    }
    if (!strcmp(v, "pidfd-parent")) {
        long fd = syscall(__NR_pidfd_open, getppid(), 0);
        return fd < 0 ? errno : (close((int)fd), 0);
    }
    if (!strcmp(v, "pidfd-self")) {
        long fd = syscall(__NR_pidfd_open, getpid(), 0);
        return fd < 0 ? errno : (close((int)fd), 0);
    }
    if (!strcmp(v, "x32-openat") && n == 2)
        return res(syscall(X32 | __NR_openat, AT_FDCWD, a[1], O_RDONLY));
    if (!strcmp(v, "open_by_handle_at"))
        return res(syscall(__NR_open_by_handle_at, AT_FDCWD, NULL, O_RDONLY));
    if (!strcmp(v, "io_uring_setup"))
        return res(syscall(__NR_io_uring_setup, 1, NULL));
    if (!strcmp(v, "memfd-exec") && n == 2) { /* copy trusted a[1] into a memfd, exec it */
        int src = open(a[1], O_RDONLY);
        if (src < 0)
            return 1000 + errno;
        int mfd = memfd_create("x", 0);
        char buf[65536];
        ssize_t r;
        while ((r = read(src, buf, sizeof(buf))) > 0)
            if (write(mfd, buf, (size_t)r) != r)
                return 2000;
        close(src);
        char *av[] = {"x", NULL}, *ev[] = {NULL};
        syscall(__NR_execveat, mfd, "", av, ev, AT_EMPTY_PATH);
        int e1 = errno;
        char p[64];
        snprintf(p, sizeof(p), "/proc/self/fd/%d", mfd);
        execve(p, av, ev);
        return e1 == errno ? e1 : 3000;
    }
    if (!strcmp(v, "link-fd") && n == 3) { /* link the object of open(a[1]) to a[2] */
        int fd = open(a[1], O_RDONLY);
        if (fd < 0)
            return 1000 + errno;
        char p[64];
        snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
        return res(linkat(AT_FDCWD, p, AT_FDCWD, a[2], AT_SYMLINK_FOLLOW));
    }
    if (!strcmp(v, "exchange") && n == 3)
        return res(syscall(__NR_renameat2, AT_FDCWD, a[1], AT_FDCWD, a[2], 2 /* EXCHANGE */));
    if (!strcmp(v, "tmpfile") && n == 2) {
        long fd = syscall(SYS_openat, AT_FDCWD, a[1], O_TMPFILE | O_RDWR, 0600);
        return fd < 0 ? errno : (close((int)fd), 0);
    }
    if (!strcmp(v, "tmpfile-ro") && n == 2) { /* invalid (EINVAL) but must not hurt us */
        long fd = syscall(SYS_openat, AT_FDCWD, a[1], O_TMPFILE | O_RDONLY, 0600);
        return fd < 0 ? errno : (close((int)fd), 0);
    }
    if (!strcmp(v, "tmpfile-mode") && n == 2) { /* prints the mode after umask 022 */
        umask(022);
        long fd = syscall(SYS_openat, AT_FDCWD, a[1], O_TMPFILE | O_RDWR, 0666);
        if (fd < 0)
            return errno;
        struct stat st;
        fstat((int)fd, &st);
        fprintf(stderr, "mode=%o\n", st.st_mode & 0777);
        close((int)fd);
        return 0;
    }
    if (!strcmp(v, "sleep") && n == 2) {
        struct timespec ts = {atoi(a[1]), 0};
        nanosleep(&ts, NULL);
        return 0;
    }
    return 4000;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    for (int i = 1; i < argc; i++) {
        char line[4096], *words[8];
        subst(argv[i], line, sizeof(line));
        int n = 0;
        char copy[4096];
        strcpy(copy, line);
        for (char *t = strtok(copy, " "); t && n < 8; t = strtok(NULL, " "))
            words[n++] = t;
        if (n == 0)
            continue;
        int e = run(words, n);
        const char *name = e == 0 ? "OK" : e < 1000 ? strerrorname_np(e) : NULL;
        if (name)
            printf("%s => %s\n", argv[i], name);
        else
            printf("%s => setup-failure-%d\n", argv[i], e);
    }
    return 0;
}
