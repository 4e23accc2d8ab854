/* Probe for tests/runtime/test_supervisor_*.py: runs each argv[i] as one command
 * ("verb arg arg ..."), prints "<command> => OK" or "=> <ERRNO NAME>" per command (extra
 * output after the result line where a verb says so). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
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

/* Connect (stream), send "ping", expect "pong" back: data flows both ways. abstract: the
 * name is an abstract address ("\0name"). */
static int unix_echo(const char *name, int abstract)
{
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0)
        return errno;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path + abstract, sizeof(a.sun_path) - 1, "%s", name);
    socklen_t len = abstract ? (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
                                           strlen(name))
                             : (socklen_t)sizeof(a);
    int e = res(connect(s, (struct sockaddr *)&a, len));
    char b[8] = {0};
    if (e == 0 && write(s, "ping", 4) != 4)
        e = errno;
    if (e == 0 && read(s, b, 4) != 4)
        e = EPROTO;
    if (e == 0 && memcmp(b, "pong", 4) != 0)
        e = EPROTO;
    close(s);
    return e;
}

/* What a connected unix socket keeps: a non-blocking O_CLOEXEC one and a blocking one
 * without it connect, keep their flags and descriptor numbers, name the peer, say EISCONN
 * when connected again, and carry data. Distinct errnos say which check failed. */
static int unix_props(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    for (int nb = 1; nb >= 0; nb--) {
        int s = socket(AF_UNIX, SOCK_STREAM | (nb ? SOCK_NONBLOCK | SOCK_CLOEXEC : 0), 0);
        if (s < 0)
            return errno;
        if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
            return errno;
        int fdf = fcntl(s, F_GETFD), fl = fcntl(s, F_GETFL);
        if (fdf < 0 || fl < 0)
            return EBADF;
        if (!!(fdf & FD_CLOEXEC) != nb || !!(fl & O_NONBLOCK) != nb)
            return EBADFD;
        struct sockaddr_un peer;
        socklen_t pl = sizeof(peer);
        memset(&peer, 0, sizeof(peer));
        if (getpeername(s, (struct sockaddr *)&peer, &pl) < 0 || strcmp(peer.sun_path, path))
            return EXDEV;
        if (connect(s, (struct sockaddr *)&a, sizeof(a)) == 0 || errno != EISCONN)
            return ENOTUNIQ;
        char b[8] = {0};
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (write(s, "ping", 4) != 4 || poll(&p, 1, 5000) != 1 || read(s, b, 4) != 4 ||
            memcmp(b, "pong", 4))
            return EPROTO;
        close(s);
    }
    return 0;
}

/* connect of a listening socket (bindpath NULL: EINVAL natively) or of one bound to
 * bindpath. */
static int unix_odd(const char *path, const char *bindpath)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX}, b = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int k = socket(AF_UNIX, SOCK_STREAM, 0);
    if (k < 0)
        return errno;
    if (bindpath) {
        snprintf(b.sun_path, sizeof(b.sun_path), "%s", bindpath);
        if (bind(k, (struct sockaddr *)&b, sizeof(b)) < 0)
            return errno;
    } else if (listen(k, 1) < 0) {
        return errno;
    }
    int e = res(connect(k, (struct sockaddr *)&a, sizeof(a)));
    close(k);
    return e;
}

/* A server in a child process (it outlives the probe's commands): a unix stream socket
 * bound at arg, or TCP on 127.0.0.1 port arg; answers "ping" with "pong" per connection. */
static int serve(const char *arg, int tcp)
{
    int s = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM, 0);
    if (s < 0)
        return errno;
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_un u = {.sun_family = AF_UNIX};
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(arg)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    snprintf(u.sun_path, sizeof(u.sun_path), "%s", arg);
    int r = tcp ? bind(s, (struct sockaddr *)&in, sizeof(in))
                : bind(s, (struct sockaddr *)&u, sizeof(u));
    if (r < 0 || listen(s, 64) < 0)
        return errno;
    if (!tcp)
        chmod(arg, 0666);
    pid_t p = fork();
    if (p < 0)
        return errno;
    if (p > 0) {
        close(s);
        return 0;
    }
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0)
            continue;
        char b[4];
        if (read(c, b, 4) == 4 && !memcmp(b, "ping", 4) && write(c, "pong", 4) != 4)
            b[0] = 0;
        close(c);
    }
}

/* TCP to 127.0.0.1:port, ping/pong (blocking or non-blocking connect). */
static int tcp_echo(int port, int nonblock)
{
    int s = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (s < 0)
        return errno;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int e = res(connect(s, (struct sockaddr *)&a, sizeof(a)));
    struct pollfd p = {.fd = s, .events = POLLOUT};
    if (nonblock && e == EINPROGRESS) {
        poll(&p, 1, 5000);
        socklen_t l = sizeof(e);
        getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &l);
    }
    char b[8] = {0};
    p.events = POLLIN;
    if (e == 0 && (write(s, "ping", 4) != 4 || poll(&p, 1, 5000) != 1 || read(s, b, 4) != 4 ||
                   memcmp(b, "pong", 4)))
        e = EPROTO;
    close(s);
    return e;
}

static int unix_dgram(const char *path)
{
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (s < 0)
        return errno;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int e = res(connect(s, (struct sockaddr *)&a, sizeof(a)));
    if (e == 0 && send(s, "d", 1, 0) != 1)
        e = errno;
    close(s);
    return e;
}

/* A second thread flips the shared sockaddr between two paths of the same length while
 * this one connects tries times. Returns EXDEV if any connect reached the denied path
 * (getpeername names the socket actually connected); counts on stderr. */
static struct sockaddr_un race_addr;
static char race_paths[2][108];
static volatile int race_stop;

static void *flipper(void *arg)
{
    (void)arg;
    size_t n = strlen(race_paths[0]) + 1;
    for (unsigned i = 0; !race_stop; i++)
        memcpy((char *)race_addr.sun_path, race_paths[i & 1], n);
    return NULL;
}

static int unix_race(const char *ok, const char *denied, int tries)
{
    if (strlen(ok) != strlen(denied))
        return EINVAL;
    snprintf(race_paths[0], sizeof(race_paths[0]), "%s", ok);
    snprintf(race_paths[1], sizeof(race_paths[1]), "%s", denied);
    race_addr.sun_family = AF_UNIX;
    memcpy(race_addr.sun_path, ok, strlen(ok) + 1);
    pthread_t th;
    if (pthread_create(&th, NULL, flipper, NULL))
        return EAGAIN;
    int nok = 0, nden = 0, nrefused = 0, nother = 0;
    for (int i = 0; i < tries; i++) {
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        if (s < 0)
            return errno;
        if (connect(s, (struct sockaddr *)&race_addr, sizeof(race_addr)) == 0) {
            struct sockaddr_un peer;
            socklen_t pl = sizeof(peer);
            memset(&peer, 0, sizeof(peer));
            if (getpeername(s, (struct sockaddr *)&peer, &pl) == 0 &&
                strcmp(peer.sun_path, denied) == 0)
                nden++;
            else
                nok++;
        } else if (errno == EACCES) {
            nrefused++;
        } else {
            nother++;
        }
        close(s);
    }
    race_stop = 1;
    pthread_join(th, NULL);
    fprintf(stderr, "race: connected-allowed=%d connected-denied=%d refused=%d other=%d\n",
            nok, nden, nrefused, nother);
    return nden ? EXDEV : 0;
}

static int udp_echo(int port)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0)
        return errno;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int e = res(connect(s, (struct sockaddr *)&a, sizeof(a)));
    char b[8] = {0};
    if (e == 0 && send(s, "ping", 4, 0) != 4)
        e = errno;
    struct pollfd p = {.fd = s, .events = POLLIN};
    if (e == 0 && poll(&p, 1, 5000) != 1)
        e = ETIMEDOUT;
    if (e == 0 && recv(s, b, 4, 0) != 4)
        e = EPROTO;
    if (e == 0 && memcmp(b, "pong", 4) != 0)
        e = EPROTO;
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
    if (!strcmp(v, "unix-echo") && n == 2)
        return unix_echo(a[1], 0);
    if (!strcmp(v, "abstract-echo") && n == 2)
        return unix_echo(a[1], 1);
    if (!strcmp(v, "unix-props") && n == 2)
        return unix_props(a[1]);
    if (!strcmp(v, "unix-listening-connect") && n == 2)
        return unix_odd(a[1], NULL);
    if (!strcmp(v, "unix-bound-connect") && n == 3)
        return unix_odd(a[1], a[2]);
    if (!strcmp(v, "unix-dgram") && n == 2)
        return unix_dgram(a[1]);
    if (!strcmp(v, "unix-race") && n == 4)
        return unix_race(a[1], a[2], atoi(a[3]));
    if (!strcmp(v, "udp-echo") && n == 2)
        return udp_echo(atoi(a[1]));
    if (!strcmp(v, "drop-unix-echo") && n == 3) /* drop to a[1], then unix-echo a[2] */
        return drop((unsigned)atoi(a[1])) ?: unix_echo(a[2], 0);
    if (!strcmp(v, "connect-tcp") && n == 2)
        return connect_tcp(atoi(a[1]), 0);
    if (!strcmp(v, "connect-tcp-nb") && n == 2)
        return connect_tcp(atoi(a[1]), 1);
    if (!strcmp(v, "serve-unix") && n == 2)
        return serve(a[1], 0);
    if (!strcmp(v, "serve-tcp") && n == 2)
        return serve(a[1], 1);
    if (!strcmp(v, "tcp-echo") && n == 2)
        return tcp_echo(atoi(a[1]), 0);
    if (!strcmp(v, "tcp-echo-nb") && n == 2)
        return tcp_echo(atoi(a[1]), 1);
    if (!strcmp(v, "drop") && n == 2) /* drop to a[1] (process-wide, no exec) */
        return drop((unsigned)atoi(a[1]));
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
