#include "trust.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../core/policy.h"
#include "../core/sha256.h"
#include "log.h"
#include "util.h"

typedef struct {
    int valid;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
} verified_id;

static const gsc_manifest *manifest;
static verified_id *cache;
/* The supervisor and the background verifier share the cache (hashing is done outside). */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static void (*on_verified)(size_t idx, dev_t dev, ino_t ino);

void rt_trust_on_verified(void (*cb)(size_t idx, dev_t dev, ino_t ino))
{
    on_verified = cb;
}

void rt_trust_init(const gsc_manifest *m)
{
    manifest = m;
    cache = rt_xcalloc(m->ntrusted ? m->ntrusted : 1, sizeof(*cache));
}

static int same_id(const verified_id *v, const struct stat *st)
{
    return v->valid && v->dev == st->st_dev && v->ino == st->st_ino && v->size == st->st_size &&
           v->mtime.tv_sec == st->st_mtim.tv_sec && v->mtime.tv_nsec == st->st_mtim.tv_nsec &&
           v->ctime.tv_sec == st->st_ctim.tv_sec && v->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

#define HASH_BUF (1 << 18)

static int hash_fd(int fd, off_t size, uint8_t out[32], uint8_t *buf)
{
    gsc_sha256_ctx ctx;
    gsc_sha256_init(&ctx);
    off_t off = 0;
    for (;;) {
        /* pread: the descriptor may be handed to the app, its offset must stay at 0. */
        ssize_t r = pread(fd, buf, HASH_BUF, off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            break;
        gsc_sha256_update(&ctx, buf, (size_t)r);
        off += r;
    }
    if (off != size)
        return -EPERM; /* changed while we read it: treat as not verified */
    gsc_sha256_final(&ctx, out);
    return 0;
}

static int verify(const gsc_trusted_file *t, int fd, uint8_t *buf)
{
    size_t idx = (size_t)(t - manifest->trusted);
    if (idx >= manifest->ntrusted)
        return -EPERM;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EPERM;
    verified_id *v = &cache[idx];
    pthread_mutex_lock(&cache_lock);
    int hit = same_id(v, &st);
    pthread_mutex_unlock(&cache_lock);
    if (hit) {
        LOG_TRACE("trusted file %s: cached verification", t->path);
        if (on_verified)
            on_verified(idx, st.st_dev, st.st_ino);
        return 0;
    }
    uint8_t digest[32];
    int r = hash_fd(fd, st.st_size, digest, buf);
    if (r < 0)
        return r;
    if (memcmp(digest, t->sha256, 32) != 0)
        return -EPERM;
    struct stat st2;
    /* Identity must not have moved while hashing. */
    if (fstat(fd, &st2) < 0)
        return -errno;
    verified_id nv = {.valid = 1, .dev = st.st_dev, .ino = st.st_ino, .size = st.st_size,
                      .mtime = st.st_mtim, .ctime = st.st_ctim};
    if (!same_id(&nv, &st2))
        return -EPERM;
    pthread_mutex_lock(&cache_lock);
    *v = nv;
    pthread_mutex_unlock(&cache_lock);
    if (on_verified)
        on_verified(idx, st.st_dev, st.st_ino);
    return 0;
}

int rt_trust_verify(const gsc_trusted_file *t, int fd)
{
    static uint8_t buf[HASH_BUF]; /* the supervisor thread's */
    return verify(t, fd, buf);
}

int rt_trust_verify_buf(const gsc_trusted_file *t, int fd, uint8_t *buf)
{
    return verify(t, fd, buf);
}

size_t rt_trust_hash_buf_size(void)
{
    return HASH_BUF;
}

int rt_trust_open_path(const gsc_manifest *m, const char *path)
{
    char norm[PATH_MAX];
    if (gsc_path_normalise(path, norm, sizeof(norm)) != 0)
        return -EINVAL;
    const gsc_trusted_file *t = NULL;
    if (gsc_policy_classify(m, norm, &t) != GSC_PATH_TRUSTED || !t)
        return -EACCES;
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                           .resolve = RESOLVE_NO_SYMLINKS};
    long fd = syscall(SYS_openat2, AT_FDCWD, norm, &how, sizeof(how));
    if (fd < 0)
        return -errno;
    int r = rt_trust_verify(t, (int)fd);
    if (r < 0) {
        close((int)fd);
        return r;
    }
    return (int)fd;
}
