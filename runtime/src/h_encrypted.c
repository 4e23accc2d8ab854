/* Encrypted files at run time (docs/encrypted-files.md, "Run time"; docs/runtime.md,
 * "Encrypted files").
 *
 * A file under an fs.mounts entry of type "encrypted" is never given to the app as it is on
 * disk (no Landlock right covers it, the manifest readers keep encrypted mounts away from
 * trusted files and writable paths): an open of it for reading is resolved like any open,
 * then the supervisor decrypts the whole file with runtime/core/pf.c (every node checked,
 * the bound path must equal the canonical path opened) into a memfd, seals it and injects
 * it read-only. Any failure (no key, wrong key, tampered, truncated, renamed) answers
 * EACCES with a log line: the app never sees a byte of a file that did not verify.
 *
 * Keys, by precedence: written by the app to /dev/attestation/keys/NAME (one memfd per
 * key, read when a file is opened; all zeros counts as not written), the operator's key
 * file gsc.encrypted_key_files.NAME (read at launch; must not be part of the image's file
 * system), fs.insecure__keys.NAME (the manifest readers refuse it for non-debug enclaves
 * unless gsc.insecure__allow_manifest_keys). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/pf.h"
#include "../core/policy.h"
#include "h_special.h"
#include "log.h"

typedef struct {
    const char *name;
    int app_fd;             /* memfd the app writes the key to (keys/NAME), or -1 */
    uint8_t file_key[16];
    int has_file;
    uint8_t manifest_key[16];
    int has_manifest;
} key_slot;

static key_slot *slots;
static size_t nslots;
static const gsc_manifest *M;

static key_slot *slot_of(const char *name)
{
    for (size_t i = 0; i < nslots; i++)
        if (strcmp(slots[i].name, name) == 0)
            return &slots[i];
    return NULL;
}

static key_slot *add_slot(const char *name)
{
    key_slot *s = slot_of(name);
    if (s)
        return s;
    key_slot *n = realloc(slots, (nslots + 1) * sizeof(*n));
    if (!n)
        rt_refuse("out of memory");
    slots = n;
    s = &slots[nslots++];
    memset(s, 0, sizeof(*s));
    s->name = name;
    s->app_fd = -1;
    return s;
}

static void load_key_file(key_slot *s, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        LOG_WARN("encrypted files: key file %s for key %s: %s (the key stays unset)", path,
                 s->name, strerror(errno));
        return;
    }
    struct stat st, root;
    if (fstat(fd, &st) < 0 || stat("/", &root) < 0)
        rt_refuse("key file %s: cannot stat it", path);
    if (!S_ISREG(st.st_mode) || st.st_size != 16)
        rt_refuse("key file %s must be a regular file of exactly 16 bytes", path);
    /* The image must not supply its own key: whoever could put a key file in the image could
     * also replace the encrypted files with ones made under that key. */
    if (st.st_dev == root.st_dev)
        rt_refuse("key file %s is part of the image's file system; mount it at run time "
                  "(e.g. a Docker secret or a bind mount)", path);
    ssize_t n = pread(fd, s->file_key, 16, 0);
    close(fd);
    if (n != 16)
        rt_refuse("key file %s: short read", path);
    s->has_file = 1;
}

void rt_enc_init(const gsc_manifest *m)
{
    M = m;
    for (size_t i = 0; i < m->nencrypted; i++)
        add_slot(m->encrypted[i].key_name);
    for (size_t i = 0; i < m->ninsecure_keys; i++) {
        key_slot *s = add_slot(m->insecure_keys[i].name);
        memcpy(s->manifest_key, m->insecure_keys[i].key, 16);
        s->has_manifest = 1;
    }
    for (size_t i = 0; i < m->nkey_files; i++)
        load_key_file(add_slot(m->key_files[i].name), m->key_files[i].path);
}

int rt_enc_key_fd(const char *name, int accmode)
{
    key_slot *s = slot_of(name);
    if (!s)
        return -ENOENT;
    if (s->app_fd < 0) {
        int fd = memfd_create("key", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
            return -errno;
        if (ftruncate(fd, 16) < 0 ||
            fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
            int e = -errno;
            close(fd);
            return e;
        }
        s->app_fd = fd;
    }
    char p[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", s->app_fd);
    int fd = open(p, accmode | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* The key to use now: 0 and key filled, or -1 (none) with *source naming why. */
static int key_for(const char *name, uint8_t key[16], const char **source)
{
    key_slot *s = slot_of(name);
    *source = "no key provisioned";
    if (!s)
        return -1;
    if (s->app_fd >= 0 && pread(s->app_fd, key, 16, 0) == 16) {
        uint8_t any = 0;
        for (int i = 0; i < 16; i++)
            any |= key[i];
        if (any) {
            *source = "key written to /dev/attestation/keys";
            return 0;
        }
    }
    if (s->has_file) {
        memcpy(key, s->file_key, 16);
        *source = "operator key file";
        return 0;
    }
    if (s->has_manifest) {
        memcpy(key, s->manifest_key, 16);
        *source = "fs.insecure__keys";
        return 0;
    }
    return -1;
}

static int under(const char *path, const char *base)
{
    size_t n = strlen(base);
    return strncmp(path, base, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

const gsc_encrypted_mount *rt_enc_mount_of(const gsc_manifest *m, const char *path)
{
    for (size_t i = 0; i < m->nencrypted; i++)
        if (under(path, m->encrypted[i].path))
            return &m->encrypted[i];
    return NULL;
}

int rt_enc_maybe(call *c, int dirfd, const char *path)
{
    if (c->m->nencrypted == 0)
        return 0;
    char full[PATH_MAX], norm[PATH_MAX];
    if (path[0] == '/') {
        snprintf(full, sizeof(full), "%s", path);
    } else {
        char link[64], base[PATH_MAX];
        if (dirfd == AT_FDCWD)
            snprintf(link, sizeof(link), "/proc/%d/cwd", (int)c->tid);
        else
            snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)c->tid, dirfd);
        ssize_t n = readlink(link, base, sizeof(base) - 1);
        if (n <= 0)
            return 0;
        base[n] = 0;
        if ((size_t)snprintf(full, sizeof(full), "%s/%s", base, path) >= sizeof(full))
            return 0;
    }
    /* Lexical: '..' is refused by the normaliser (a racing or symlinked path that does not
     * look like an encrypted file is left to the kernel, which grants it no access). */
    if (gsc_path_normalise(full, norm, sizeof(norm)) != 0)
        return 0;
    return rt_enc_mount_of(c->m, norm) != NULL;
}

static int is_write_open(int flags)
{
    return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_TRUNC | O_CREAT)) ||
           (flags & O_TMPFILE) == O_TMPFILE;
}

int rt_enc_open(call *c, const gsc_encrypted_mount *em, rt_resolved *r, int flags,
                const char *what)
{
    if (flags & O_PATH)
        return 1;
    struct stat dst;
    if (r->fd >= 0 && !r->is_link && fstat(r->fd, &dst) == 0 && S_ISDIR(dst.st_mode) &&
        !is_write_open(flags))
        return 1; /* listing a directory: names only, as for any directory */
    if (is_write_open(flags)) {
        LOG_ERR("policy: %s %s: files in the encrypted mount %s are read-only in native mode "
                "(pid %d)", what, r->path, em->path, (int)c->tid);
        return -EACCES;
    }
    if (r->fd < 0)
        return -ENOENT;
    if (r->is_link)
        return -ELOOP;
    if (flags & O_DIRECTORY)
        return -ENOTDIR;
    uint8_t key[16];
    const char *source;
    if (key_for(em->key_name, key, &source) < 0) {
        LOG_ERR("policy: encrypted file %s: no key \"%s\" (write it to "
                "/dev/attestation/keys/%s or mount its key file): refusing (EACCES) (pid %d)",
                r->path, em->key_name, em->key_name, (int)c->tid);
        return -EACCES;
    }
    char p[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", r->fd);
    int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        memset(key, 0, sizeof(key));
        return -errno;
    }
    struct stat st;
    char err[256] = "";
    int res = -EACCES, mfd = -1;
    gsc_pf *pf = NULL;
    void *map = MAP_FAILED;
    uint64_t size = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, sizeof(err), "not a regular file");
        goto out;
    }
    if (gsc_pf_open(key, r->path, (uint64_t)st.st_size, gsc_pf_fd_read, &fd, &pf, err,
                    sizeof(err)) < 0)
        goto out;
    size = gsc_pf_size(pf);
    if (size > (uint64_t)st.st_size) { /* every byte of plaintext takes a byte on disk */
        snprintf(err, sizeof(err), "size field larger than the file");
        goto out;
    }
    mfd = memfd_create("encrypted", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0 || ftruncate(mfd, (off_t)size) < 0) {
        snprintf(err, sizeof(err), "memfd: %s", strerror(errno));
        goto out;
    }
    if (size) {
        map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
        if (map == MAP_FAILED) {
            snprintf(err, sizeof(err), "mmap: %s", strerror(errno));
            goto out;
        }
        uint64_t off = 0;
        while (off < size) {
            size_t want = size - off > (1u << 20) ? (1u << 20) : (size_t)(size - off), got = 0;
            if (gsc_pf_pread(pf, off, (uint8_t *)map + off, want, &got, err, sizeof(err)) < 0)
                goto out;
            if (got != want) {
                snprintf(err, sizeof(err), "short read at %llu", (unsigned long long)off);
                goto out;
            }
            off += got;
        }
        munmap(map, size);
        map = MAP_FAILED;
    }
    if (fcntl(mfd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
        snprintf(err, sizeof(err), "seal: %s", strerror(errno));
        goto out;
    }
    snprintf(p, sizeof(p), "/proc/self/fd/%d", mfd);
    res = open(p, O_RDONLY | O_CLOEXEC);
    if (res < 0) {
        snprintf(err, sizeof(err), "reopen: %s", strerror(errno));
        res = -EACCES;
    }
out:
    memset(key, 0, sizeof(key));
    if (map != MAP_FAILED) {
        memset(map, 0, size); /* never leave partial plaintext behind */
        munmap(map, size);
    }
    if (mfd >= 0)
        close(mfd);
    gsc_pf_close(pf);
    close(fd);
    if (res < 0)
        LOG_ERR("policy: encrypted file %s: %s (key \"%s\" from %s): refusing (EACCES) "
                "(pid %d)", r->path, err, em->key_name, source, (int)c->tid);
    else
        LOG_DEBUG("policy: %s %s (encrypted, %llu bytes decrypted, key from %s): allowed "
                  "(pid %d)", what, r->path, (unsigned long long)size, source, (int)c->tid);
    return res;
}
