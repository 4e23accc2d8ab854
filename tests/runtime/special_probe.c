/* Test probe for /dev/attestation and encrypted files (test_special.py). Commands, in order:
 *   rd HEX          write HEX (zero-padded to 64 bytes) to /dev/attestation/user_report_data
 *   show NAME       print "NAME=<hex of /dev/attestation/NAME>"
 *   key NAME HEX    write the 16-byte key HEX to /dev/attestation/keys/NAME
 *   open PATH FLAGS print "open=<0 or errno>" for open(PATH, r|w|rw|c)
 *   cat PATH        copy PATH to stdout with read()
 *   mmap PATH       copy PATH to stdout through a private read-only mapping
 * Exits 3 on the first failing command (errno on stderr). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int unhex(const char *h, unsigned char *out, size_t cap)
{
    size_t n = strlen(h) / 2;
    if (n > cap)
        return -1;
    memset(out, 0, cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(h + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (unsigned char)v;
    }
    return (int)n;
}

static void die(const char *what, const char *path)
{
    fprintf(stderr, "probe: %s %s: %s\n", what, path, strerror(errno));
    exit(3);
}

static void put(const char *path, const unsigned char *b, size_t n)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        die("open", path);
    if (write(fd, b, n) != (ssize_t)n)
        die("write", path);
    close(fd);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *cmd = argv[i];
        if (!strcmp(cmd, "rd") && i + 1 < argc) {
            unsigned char b[64];
            if (unhex(argv[++i], b, 64) < 0)
                return 2;
            put("/dev/attestation/user_report_data", b, 64);
        } else if (!strcmp(cmd, "key") && i + 2 < argc) {
            char p[256];
            unsigned char k[16];
            snprintf(p, sizeof p, "/dev/attestation/keys/%s", argv[i + 1]);
            if (unhex(argv[i + 2], k, 16) != 16)
                return 2;
            put(p, k, 16);
            i += 2;
        } else if (!strcmp(cmd, "show") && i + 1 < argc) {
            char p[256];
            snprintf(p, sizeof p, "/dev/attestation/%s", argv[++i]);
            int fd = open(p, O_RDONLY);
            if (fd < 0)
                die("open", p);
            static unsigned char buf[1 << 16];
            ssize_t n, tot = 0;
            while ((n = read(fd, buf + tot, sizeof(buf) - (size_t)tot)) > 0)
                tot += n;
            close(fd);
            printf("%s=", argv[i]);
            for (ssize_t j = 0; j < tot; j++)
                printf("%02x", buf[j]);
            printf("\n");
            fflush(stdout);
        } else if (!strcmp(cmd, "open") && i + 2 < argc) {
            const char *f = argv[i + 2];
            int fl = !strcmp(f, "w") ? O_WRONLY : !strcmp(f, "rw") ? O_RDWR
                   : !strcmp(f, "c") ? O_WRONLY | O_CREAT : O_RDONLY;
            int fd = open(argv[i + 1], fl, 0600);
            printf("open=%d\n", fd < 0 ? errno : 0);
            fflush(stdout);
            if (fd >= 0)
                close(fd);
            i += 2;
        } else if ((!strcmp(cmd, "cat") || !strcmp(cmd, "mmap")) && i + 1 < argc) {
            const char *p = argv[++i];
            int fd = open(p, O_RDONLY);
            if (fd < 0)
                die("open", p);
            struct stat st;
            if (fstat(fd, &st) < 0)
                die("fstat", p);
            if (!strcmp(cmd, "mmap")) {
                if (st.st_size) {
                    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
                    if (m == MAP_FAILED)
                        die("mmap", p);
                    if (write(1, m, (size_t)st.st_size) != st.st_size)
                        die("write", "stdout");
                    munmap(m, (size_t)st.st_size);
                }
            } else {
                static char buf[1 << 20];
                ssize_t n;
                while ((n = read(fd, buf, sizeof buf)) > 0)
                    if (write(1, buf, (size_t)n) != n)
                        die("write", "stdout");
                if (n < 0)
                    die("read", p);
            }
            close(fd);
        } else {
            fprintf(stderr, "probe: bad command %s\n", cmd);
            return 2;
        }
    }
    return 0;
}
