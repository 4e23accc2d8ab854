/* Probe for tests/runtime/test_supervisor_*.py: runs each argv[i] as one command
 * ("verb arg arg ..."), prints "<command> => OK" or "=> <ERRNO NAME>" per command (extra
 * output after the result line where a verb says so). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int res(long r)
{
    return r < 0 ? errno : 0;
}

/* Open read-only and read a byte: the open worked and gives the content. */
static int open_read(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return errno;
    char b;
    int e = read(fd, &b, 1) < 0 ? errno : 0;
    close(fd);
    return e;
}

/* Drop to uid/gid u the way gosu/nginx do (groups, gid, uid: process-wide). */
static int drop(unsigned u)
{
    if (setgroups(0, NULL) < 0 || setgid(u) < 0 || setuid(u) < 0)
        return errno;
    return 0;
}

static int connect_unix(const char *path)
{
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0)
        return errno;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int e = res(connect(s, (struct sockaddr *)&a, sizeof(a)));
    if (e == 0 && write(s, "x", 1) != 1)
        e = errno;
    close(s);
    return e;
}

static int connect_tcp(int port, int nonblock)
{
    int s = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (s < 0)
        return errno;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int e = res(connect(s, (struct sockaddr *)&a, sizeof(a)));
    if (nonblock && e == EINPROGRESS) {
        struct pollfd p = {.fd = s, .events = POLLOUT};
        poll(&p, 1, 5000);
        socklen_t l = sizeof(e);
        getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &l);
    }
    close(s);
    return e;
}

static int run(char **a, int n)
{
    const char *v = a[0];
    if (!strcmp(v, "open") && n == 2)
        return open_read(a[1]);
    if (!strcmp(v, "opath") && n == 2) { /* O_PATH handle, then fstat through it */
        int fd = open(a[1], O_PATH | O_CLOEXEC);
        if (fd < 0)
            return errno;
        struct stat st;
        int e = res(fstat(fd, &st));
        close(fd);
        return e;
    }
    if (!strcmp(v, "opath-reopen") && n == 2) { /* O_PATH, then open /proc/self/fd/N */
        int fd = open(a[1], O_PATH);
        if (fd < 0)
            return errno;
        char p[64];
        snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
        int e = open_read(p);
        close(fd);
        return e;
    }
    if (!strcmp(v, "mmap-exec") && n == 2) { /* map a file PROT_READ|PROT_EXEC */
        int fd = open(a[1], O_RDONLY);
        if (fd < 0)
            return errno;
        void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
        int e = p == MAP_FAILED ? errno : 0;
        if (p != MAP_FAILED)
            munmap(p, 4096);
        close(fd);
        return e;
    }
    if (!strcmp(v, "mprotect-exec") && n == 2) { /* map PROT_READ, then add PROT_EXEC */
        int fd = open(a[1], O_RDONLY);
        if (fd < 0)
            return errno;
        void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (p == MAP_FAILED)
            return errno;
        int e = res(mprotect(p, 4096, PROT_READ | PROT_EXEC));
        munmap(p, 4096);
        return e;
    }
    if (!strcmp(v, "anon-rwx")) { /* a JIT's memory: anonymous, writable then executable */
        unsigned char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return errno;
        p[0] = 0xc3; /* ret */
        ((void (*)(void))p)();
        int e = res(mprotect(p, 4096, PROT_READ | PROT_EXEC));
        munmap(p, 4096);
        return e;
    }
    if (!strcmp(v, "connect-unix") && n == 2)
        return connect_unix(a[1]);
    if (!strcmp(v, "connect-tcp") && n == 2)
        return connect_tcp(atoi(a[1]), 0);
    if (!strcmp(v, "connect-tcp-nb") && n == 2)
        return connect_tcp(atoi(a[1]), 1);
    if (!strcmp(v, "drop-open") && n == 3) /* gosu-like: drop, then open */
        return drop((unsigned)atoi(a[1])) ?: open_read(a[2]);
    if (!strcmp(v, "drop-exec") && n >= 3) { /* gosu: drop, then exec the rest */
        int e = drop((unsigned)atoi(a[1]));
        if (e)
            return e;
        fflush(stdout);
        execv(a[2], &a[2]);
        return errno;
    }
    if (!strcmp(v, "worker-drop-open") && n == 4) { /* nginx: fork a[3] workers that drop */
        int k = atoi(a[3]), bad = 0;
        for (int i = 0; i < k; i++) {
            pid_t p = fork();
            if (p == 0) {
                int e = drop((unsigned)atoi(a[1]));
                for (int j = 0; !e && j < 20; j++)
                    e = open_read(a[2]);
                _exit(e);
            }
            int st;
            waitpid(p, &st, 0);
            if (!WIFEXITED(st) || WEXITSTATUS(st))
                bad = WIFEXITED(st) ? WEXITSTATUS(st) : EINTR;
        }
        return bad;
    }
    return EINVAL;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        char buf[4096];
        snprintf(buf, sizeof(buf), "%s", argv[i]);
        for (char *q = buf; strncmp(buf, "drop-exec", 9) && *q; q++) /* "verb+arg" */
            if (*q == '+')
                *q = ' ';
        char *a[16];
        int n = 0;
        for (char *t = strtok(buf, " "); t && n < 15; t = strtok(NULL, " "))
            a[n++] = t;
        a[n] = NULL;
        if (!strcmp(a[0], "drop-exec"))
            printf("%s => EXEC\n", argv[i]);
        int e = n ? run(a, n) : EINVAL;
        printf("%s => %s\n", argv[i], e ? strerrorname_np(e) : "OK");
    }
    return 0;
}
