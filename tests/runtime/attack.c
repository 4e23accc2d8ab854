/* Attack program for tests/runtime/test_attacks.py (issue 8): each argv[i] is one command
 * "verb arg ...", and prints one line "<command> => <result>". Results: OK (the call
 * worked), an errno name (it failed), BREACH ... (the attack achieved its goal),
 * HELD n/m (a race was tried n times and never won; m calls failed outright), or
 * text for the informational verbs.
 *
 * Races are bounded by a number of tries; a second thread flips the path the main thread
 * passes to the kernel between a harmless value (which the policy accepts) and the
 * attack value, so a check-then-continue supervisor would see one and the kernel the
 * other. Built static by the tests (like hardening_probe.c). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *errname(int e)
{
    switch (e) {
    case 0: return "OK";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EXDEV: return "EXDEV";
    case EEXIST: return "EEXIST";
    case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case ENOEXEC: return "ENOEXEC";
    default: return strerror(e);
    }
}

/* ---- the flipping thread ------------------------------------------------------------ */

#define BUF 4096
static char flip_buf[BUF];
static char flip_a[BUF], flip_b[BUF];
static atomic_int flip_stop;

static void *flipper(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&flip_stop, memory_order_relaxed)) {
        strcpy(flip_buf, flip_b);
        sched_yield();
        strcpy(flip_buf, flip_a);
        sched_yield();
    }
    return NULL;
}

static pthread_t start_flip(const char *harmless, const char *attack)
{
    snprintf(flip_a, sizeof flip_a, "%s", harmless);
    snprintf(flip_b, sizeof flip_b, "%s", attack);
    strcpy(flip_buf, flip_a);
    atomic_store(&flip_stop, 0);
    pthread_t t;
    pthread_create(&t, NULL, flipper, NULL);
    return t;
}

static void stop_flip(pthread_t t)
{
    atomic_store(&flip_stop, 1);
    pthread_join(t, NULL);
}

static int is_inode(const char *a, const struct stat *y)
{
    struct stat x;
    return lstat(a, &x) == 0 && x.st_dev == y->st_dev && x.st_ino == y->st_ino;
}

static void touch(const char *p)
{
    int fd = open(p, O_WRONLY | O_CREAT, 0644);
    if (fd >= 0)
        close(fd);
}

/* race-link DENIED ALLOWED_DIR N: link(flip{ALLOWED_DIR/decoy, DENIED}, ALLOWED_DIR/x):
 * the denied file must never get a name in the allowed directory. */
static void race_link(const char *denied, const char *dir, int n, int rename_it, char *out,
                      size_t outlen)
{
    char decoy[BUF], dst[BUF];
    snprintf(decoy, sizeof decoy, "%s/decoy", dir);
    snprintf(dst, sizeof dst, "%s/x", dir);
    int failed = 0;
    struct stat secret;
    if (lstat(denied, &secret) < 0) {
        snprintf(out, outlen, "setup %s", errname(errno));
        return;
    }
    pthread_t t = start_flip(decoy, denied);
    for (int i = 0; i < n; i++) {
        touch(decoy);
        unlink(dst);
        int r = rename_it ? rename(flip_buf, dst) : link(flip_buf, dst);
        if (r < 0)
            failed++;
        if (is_inode(dst, &secret)) {
            stop_flip(t);
            int fd = open(dst, O_RDONLY);
            char buf[64] = "";
            if (fd >= 0) {
                ssize_t k = read(fd, buf, sizeof buf - 1);
                buf[k > 0 ? k : 0] = 0;
                buf[strcspn(buf, "\n")] = 0;
                close(fd);
            }
            snprintf(out, outlen, "BREACH after %d tries, read: %s", i + 1,
                     fd >= 0 ? buf : errname(errno));
            return;
        }
    }
    stop_flip(t);
    unlink(dst);
    snprintf(out, outlen, "HELD %d/%d", n, failed);
}

/* race-replace TRUSTED ALLOWED_DIR N: rename(ALLOWED_DIR/evil (a symlink into /tmp),
 * flip{ALLOWED_DIR/y, TRUSTED}): the trusted name must never become the symlink. */
static void race_replace(const char *trusted, const char *dir, int n, char *out, size_t outlen)
{
    char evil[BUF], y[BUF];
    snprintf(evil, sizeof evil, "%s/evil", dir);
    snprintf(y, sizeof y, "%s/y", dir);
    int failed = 0;
    pthread_t t = start_flip(y, trusted);
    for (int i = 0; i < n; i++) {
        unlink(evil);
        if (symlink("/tmp/gsc-attack-target", evil) < 0) {
            stop_flip(t);
            snprintf(out, outlen, "setup %s", errname(errno));
            return;
        }
        if (rename(evil, flip_buf) < 0)
            failed++;
        struct stat st;
        if (lstat(trusted, &st) == 0 && S_ISLNK(st.st_mode)) {
            stop_flip(t);
            snprintf(out, outlen, "BREACH after %d tries", i + 1);
            return;
        }
    }
    stop_flip(t);
    unlink(evil);
    unlink(y);
    snprintf(out, outlen, "HELD %d/%d", n, failed);
}

/* race-create NEWPATH ALLOWED_DIR N: symlink / link / rename with the new name flipped
 * between ALLOWED_DIR/z and NEWPATH (a name in a trusted directory, e.g. the image's
 * etc/ld.so.preload): NEWPATH must never appear. */
static void race_create(const char *newpath, const char *dir, int n, char *out, size_t outlen)
{
    char z[BUF], src[BUF];
    snprintf(z, sizeof z, "%s/z", dir);
    snprintf(src, sizeof src, "%s/src", dir);
    int failed = 0;
    pthread_t t = start_flip(z, newpath);
    for (int i = 0; i < n; i++) {
        unlink(z);
        touch(src);
        int r;
        switch (i % 3) {
        case 0: r = symlink("/tmp/gsc-attack-lib.so", flip_buf); break;
        case 1: r = link(src, flip_buf); break;
        default: r = rename(src, flip_buf); break;
        }
        if (r < 0)
            failed++;
        struct stat st;
        if (lstat(newpath, &st) == 0) {
            stop_flip(t);
            snprintf(out, outlen, "BREACH after %d tries", i + 1);
            return;
        }
    }
    stop_flip(t);
    unlink(z);
    unlink(src);
    snprintf(out, outlen, "HELD %d/%d", n, failed);
}

/* ---- exec races --------------------------------------------------------------------- */

/* Run `body` in a child n times; the child prints what it executed (the "whoami" verb of
 * this program) on a pipe. A line naming the untrusted program is a breach. */
static int pipefd[2];

static void whoami(void)
{
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[k > 0 ? k : 0] = 0;
    printf("%s\n", exe);
}

enum exec_mode { EX_PATH, EX_FD, EX_LINK };

static void child_exec(enum exec_mode mode, const char *good, const char *bad, const char *link)
{
    char *argv[] = {"attack", "whoami", NULL};
    dup2(pipefd[1], 1);
    if (mode == EX_PATH) {
        pthread_t t = start_flip(good, bad);
        execv(flip_buf, argv);
        (void)t;
        _exit(errno == EACCES ? 3 : 4);
    }
    if (mode == EX_FD) {
        int g = open(good, O_RDONLY | O_CLOEXEC);
        int b = open(bad, O_RDONLY | O_CLOEXEC);
        if (g < 0 || b < 0)
            _exit(5);
        int target = 100;
        dup3(g, target, O_CLOEXEC);
        /* the flipper swaps what fd 100 names */
        snprintf(flip_a, sizeof flip_a, "%d", g);
        snprintf(flip_b, sizeof flip_b, "%d", b);
        pthread_t t;
        atomic_store(&flip_stop, 0);
        struct fds { int g, b, target; } *f = malloc(sizeof *f);
        f->g = g;
        f->b = b;
        f->target = target;
        void *swap(void *arg);
        pthread_create(&t, NULL, swap, f);
        syscall(SYS_execveat, target, "", argv, environ, AT_EMPTY_PATH);
        _exit(errno == EACCES ? 3 : 4);
    }
    /* EX_LINK: link flips between a symlink to the good and to the bad program */
    execv(link, argv);
    _exit(errno == EACCES ? 3 : 4);
}

void *swap(void *arg)
{
    const int *f = arg;
    while (!atomic_load_explicit(&flip_stop, memory_order_relaxed)) {
        dup3(f[1], f[2], O_CLOEXEC);
        sched_yield();
        dup3(f[0], f[2], O_CLOEXEC);
        sched_yield();
    }
    return NULL;
}

static void *link_flipper(void *arg)
{
    const char **p = arg; /* link, tmp_good, tmp_bad */
    while (!atomic_load_explicit(&flip_stop, memory_order_relaxed)) {
        rename(p[2], p[0]);
        symlink(p[4], p[2]);
        sched_yield();
        rename(p[1], p[0]);
        symlink(p[3], p[1]);
        sched_yield();
    }
    return NULL;
}

static void race_exec(enum exec_mode mode, const char *good, const char *bad, const char *dir,
                      int n, char *out, size_t outlen)
{
    int ran_good = 0, refused = 0, other = 0;
    char link[BUF], lg[BUF], lb[BUF];
    snprintf(link, sizeof link, "%s/prog-link", dir);
    snprintf(lg, sizeof lg, "%s/.lg", dir);
    snprintf(lb, sizeof lb, "%s/.lb", dir);
    pthread_t lt;
    const char *largs[5] = {link, lg, lb, good, bad};
    if (mode == EX_LINK) {
        unlink(lg);
        unlink(lb);
        symlink(good, lg);
        symlink(bad, lb);
        atomic_store(&flip_stop, 0);
        pthread_create(&lt, NULL, link_flipper, largs);
    }
    for (int i = 0; i < n; i++) {
        if (pipe(pipefd) < 0) {
            snprintf(out, outlen, "pipe %s", errname(errno));
            return;
        }
        pid_t pid = fork();
        if (pid == 0) {
            close(pipefd[0]);
            child_exec(mode, good, bad, link);
        }
        close(pipefd[1]);
        char buf[PATH_MAX + 2] = "";
        ssize_t k, got = 0;
        while ((k = read(pipefd[0], buf + got, sizeof buf - 1 - (size_t)got)) > 0)
            got += k;
        buf[got] = 0;
        close(pipefd[0]);
        int st;
        waitpid(pid, &st, 0);
        buf[strcspn(buf, "\n")] = 0;
        if (got > 0 && strcmp(buf, bad) == 0) {
            if (mode == EX_LINK)
                atomic_store(&flip_stop, 1);
            snprintf(out, outlen, "BREACH after %d tries: ran %s", i + 1, buf);
            return;
        }
        if (got > 0)
            ran_good++;
        else if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
            refused++;
        else
            other++;
    }
    if (mode == EX_LINK) {
        atomic_store(&flip_stop, 1);
        pthread_join(lt, NULL);
    }
    snprintf(out, outlen, "HELD %d/%d ran-trusted=%d other=%d", n, refused, ran_good, other);
}

/* ---- long paths --------------------------------------------------------------------- */

/* deep DIR DEPTH: mkdir+chdir a chain of 200-byte names under DIR until the absolute
 * path is longer than PATH_MAX, create and read back a file there by relative names. */
static void deep(const char *dir, int depth, char *out, size_t outlen)
{
    char name[201];
    memset(name, 'd', 200);
    name[200] = 0;
    if (chdir(dir) < 0) {
        snprintf(out, outlen, "chdir %s", errname(errno));
        return;
    }
    for (int i = 0; i < depth; i++) {
        if (mkdir(name, 0755) < 0 && errno != EEXIST) {
            snprintf(out, outlen, "mkdir at depth %d: %s", i, errname(errno));
            return;
        }
        if (chdir(name) < 0) {
            snprintf(out, outlen, "chdir at depth %d: %s", i, errname(errno));
            return;
        }
    }
    int fd = open("f", O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        snprintf(out, outlen, "create: %s", errname(errno));
        return;
    }
    if (write(fd, "deep\n", 5) != 5) {
        snprintf(out, outlen, "write: %s", errname(errno));
        close(fd);
        return;
    }
    close(fd);
    fd = open("f", O_RDONLY);
    char buf[8] = "";
    if (fd < 0 || read(fd, buf, 5) != 5) {
        snprintf(out, outlen, "reopen: %s", errname(errno));
        return;
    }
    close(fd);
    snprintf(out, outlen, "OK %s", strncmp(buf, "deep", 4) == 0 ? "content" : "wrong");
}

static void cat(const char *path, char *out, size_t outlen)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(out, outlen, "%s", errname(errno));
        return;
    }
    char buf[256];
    ssize_t k = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (k < 0) {
        snprintf(out, outlen, "read %s", errname(errno));
        return;
    }
    buf[k] = 0;
    for (char *p = buf; *p; p++)
        if (*p == '\n')
            *p = '|';
    snprintf(out, outlen, "OK %s", buf);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && strcmp(argv[1], "whoami") == 0) {
        whoami();
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        char cmd[BUF];
        snprintf(cmd, sizeof cmd, "%s", argv[i]);
        char *w[6] = {0};
        int nw = 0;
        for (char *s = strtok(cmd, " "); s && nw < 6; s = strtok(NULL, " "))
            w[nw++] = s;
        char out[BUF] = "?";
        const char *op = w[0] ? w[0] : "";
        if (strcmp(op, "cat") == 0 && nw == 2)
            cat(w[1], out, sizeof out);
        else if (strcmp(op, "race-link") == 0 && nw == 4)
            race_link(w[1], w[2], atoi(w[3]), 0, out, sizeof out);
        else if (strcmp(op, "race-rename") == 0 && nw == 4)
            race_link(w[1], w[2], atoi(w[3]), 1, out, sizeof out);
        else if (strcmp(op, "race-replace") == 0 && nw == 4)
            race_replace(w[1], w[2], atoi(w[3]), out, sizeof out);
        else if (strcmp(op, "race-create") == 0 && nw == 4)
            race_create(w[1], w[2], atoi(w[3]), out, sizeof out);
        else if (strcmp(op, "exec") == 0 && nw == 2) {
            /* "RAN <what /proc/self/exe named>" or the errno of execv */
            char *av[] = {"attack", "whoami", NULL};
            int p[2];
            if (pipe(p) < 0)
                return 1;
            pid_t pid = fork();
            if (pid == 0) {
                close(p[0]);
                dup2(p[1], 1);
                execv(w[1], av);
                dprintf(1, "!%s\n", errname(errno));
                _exit(0);
            }
            close(p[1]);
            char buf[PATH_MAX + 2] = "";
            ssize_t k, got = 0;
            while ((k = read(p[0], buf + got, sizeof buf - 1 - (size_t)got)) > 0)
                got += k;
            buf[got] = 0;
            buf[strcspn(buf, "\n")] = 0;
            close(p[0]);
            int st;
            waitpid(pid, &st, 0);
            if (buf[0] == '!')
                snprintf(out, sizeof out, "%s", buf + 1);
            else
                snprintf(out, sizeof out, "RAN %s", buf);
        } else if (strcmp(op, "race-exec") == 0 && nw == 5)
            race_exec(EX_PATH, w[1], w[2], w[3], atoi(w[4]), out, sizeof out);
        else if (strcmp(op, "race-execveat") == 0 && nw == 5)
            race_exec(EX_FD, w[1], w[2], w[3], atoi(w[4]), out, sizeof out);
        else if (strcmp(op, "race-exec-link") == 0 && nw == 5)
            race_exec(EX_LINK, w[1], w[2], w[3], atoi(w[4]), out, sizeof out);
        else if (strcmp(op, "deep") == 0 && nw == 3)
            deep(w[1], atoi(w[2]), out, sizeof out);
        else
            snprintf(out, sizeof out, "bad command");
        printf("%s => %s\n", argv[i], out);
    }
    return 0;
}
