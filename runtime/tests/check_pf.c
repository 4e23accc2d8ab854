/* check_pf: run the protected-files reader over one file the way the vector oracle read it
 * (first min(size, 3072) bytes, then 4096-byte chunks), so pytest can run every vector through
 * the very same C built with sanitizers.
 *
 *   check_pf KEYHEX PATH|- FILE
 *
 * Prints "ok SIZE SHA256" or "error STAGE STATUS OFFSET|-" and exits 0 (both are results);
 * 2 on usage or I/O errors. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pf.h"
#include "sha256.h"

static int parse_key(const char *hex, uint8_t key[16])
{
    if (strlen(hex) != 32)
        return -1;
    for (int i = 0; i < 16; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        key[i] = (uint8_t)v;
    }
    return 0;
}

int main(int argc, char **argv)
{
    uint8_t key[16];
    if (argc != 4 || parse_key(argv[1], key) != 0) {
        fprintf(stderr, "usage: check_pf KEYHEX PATH|- FILE\n");
        return 2;
    }
    const char *path = strcmp(argv[2], "-") == 0 ? NULL : argv[2];
    int fd = open(argv[3], O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(argv[3]);
        return 2;
    }
    char err[256];
    gsc_pf *pf = NULL;
    int rc = gsc_pf_open(key, path, (uint64_t)st.st_size, gsc_pf_fd_read, &fd, &pf, err,
                         sizeof(err));
    if (rc != 0) {
        printf("error open %d -\n", rc);
        fprintf(stderr, "%s\n", err);
        close(fd);
        return 0;
    }
    uint64_t size = gsc_pf_size(pf);
    gsc_sha256_ctx h;
    gsc_sha256_init(&h);
    uint8_t buf[4096];
    uint64_t off = 0;
    size_t want = size < 3072 ? (size_t)size : 3072;
    while (off < size) {
        size_t n = 0;
        rc = gsc_pf_pread(pf, off, buf, want, &n, err, sizeof(err));
        if (rc != 0) {
            printf("error read %d %llu\n", rc, (unsigned long long)off);
            fprintf(stderr, "%s\n", err);
            gsc_pf_close(pf);
            close(fd);
            return 0;
        }
        gsc_sha256_update(&h, buf, n);
        off += n;
        want = sizeof(buf);
    }
    uint8_t digest[32];
    gsc_sha256_final(&h, digest);
    printf("ok %llu ", (unsigned long long)size);
    for (int i = 0; i < 32; i++)
        printf("%02x", digest[i]);
    printf("\n");
    gsc_pf_close(pf);
    close(fd);
    return 0;
}
