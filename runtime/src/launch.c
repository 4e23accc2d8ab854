#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../core/gsc_layout.h"
#include "../core/measure.h"
#include "log.h"
#include "util.h"

#define MANIFEST_NAME GSC_LAYOUT_MANIFEST_NAME
#define SIG_NAME GSC_LAYOUT_SIG_NAME
#define MAX_MANIFEST ((size_t)256 << 20)
#define MAX_EXE ((size_t)256 << 20)

static void read_named(const char *dir, const char *name, size_t max, uint8_t **buf,
                       size_t *len)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        rt_refuse("path of %s is too long", name);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        rt_refuse("cannot open %s: %s", path, strerror(errno));
    int r = rt_read_fd(fd, max, buf, len);
    close(fd);
    if (r < 0)
        rt_refuse("cannot read %s: %s", path, strerror(-r));
}

static int pin_from_env(const char *name, uint8_t out[32])
{
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    if (rt_hex32(v, out) < 0)
        rt_refuse("%s is not 64 hex digits", name);
    return 1;
}

/* Grow the descriptor table once, while this process still has one thread. The launch
 * opens a descriptor per trusted directory and per trusted file it gives a rule of its
 * own; every time the kernel grows the table of a process whose table is shared (a second
 * thread exists) it waits for an RCU grace period (expand_fdtable: synchronize_rcu), which
 * costs milliseconds each on a VM: measured, the table grew 5-7 times during the launch of
 * a 6,000-file image, with the measurement thread and the listing threads running. The
 * estimate (one descriptor per trusted file, pinned symlink and some more) may be short
 * for deep trees of few files: then the table grows as before, only slower. Best effort:
 * capped by RLIMIT_NOFILE; the descriptor used is closed at once. */
static void reserve_descriptors(const gsc_manifest *m)
{
    size_t want = m->ntrusted + m->nsymlinks + 256;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        want >= rl.rlim_cur)
        want = rl.rlim_cur > 1 ? (size_t)rl.rlim_cur - 1 : 0;
    if (want <= 64 || want > (1u << 20))
        return;
    int fd = fcntl(0, F_DUPFD_CLOEXEC, (int)want);
    if (fd < 0)
        fd = open("/", O_PATH | O_CLOEXEC); /* stdin closed: any descriptor will do */
    if (fd < 0)
        return;
    if (fd < (int)want) {
        int hi = fcntl(fd, F_DUPFD_CLOEXEC, (int)want);
        close(fd);
        fd = hi;
    }
    if (fd >= 0)
        close(fd);
}

static void *measure_thread(void *arg)
{
    rt_launch *out = arg;
    out->measure_rc = gsc_measure(out->manifest_bytes, out->manifest_len, out->exe,
                                  out->exe_len, &out->manifest.params, out->mrenclave,
                                  out->measure_err, sizeof(out->measure_err));
    return NULL;
}

void rt_launch_begin(rt_launch *out)
{
    memset(out, 0, sizeof(*out));

    /* Where we live: fixed by the kernel, not by argv or the environment. */
    ssize_t n = readlink("/proc/self/exe", out->dir, sizeof(out->dir) - 1);
    if (n <= 0 || (size_t)n >= sizeof(out->dir) - 1)
        rt_refuse("cannot locate own executable via /proc/self/exe");
    out->dir[n] = 0;
    char *slash = strrchr(out->dir, '/');
    if (!slash || out->dir[0] != '/')
        rt_refuse("own executable path is not absolute");
    if (slash == out->dir)
        slash[1] = 0;
    else
        *slash = 0;

    /* The bytes that run are the bytes we measure: read the executable through the
     * kernel's handle, not through its (replaceable) path. */
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        rt_refuse("cannot open /proc/self/exe: %s", strerror(errno));
    int r = rt_read_fd(fd, MAX_EXE, &out->exe, &out->exe_len);
    close(fd);
    if (r < 0)
        rt_refuse("cannot read /proc/self/exe: %s", strerror(-r));

    uint8_t *sig = NULL;
    size_t sig_len = 0;
    read_named(out->dir, SIG_NAME, 4096, &sig, &sig_len);
    read_named(out->dir, MANIFEST_NAME, MAX_MANIFEST, &out->manifest_bytes,
               &out->manifest_len);

    char err[256] = "";
    if (gsc_sigstruct_verify(sig, sig_len, &out->sig, err, sizeof(err)) != 0)
        rt_refuse("bad signature in %s: %s", SIG_NAME, err[0] ? err : "verification failed");
    free(sig);

    /* The strict parser is fail-closed and fuzzed; we need its [sgx] values to measure.
     * Nothing from the manifest is acted upon before the measurement matches. */
    err[0] = 0;
    if (gsc_manifest_parse((const char *)out->manifest_bytes, out->manifest_len,
                           &out->manifest, err, sizeof(err)) != 0)
        rt_refuse("manifest %s rejected: %s", MANIFEST_NAME, err[0] ? err : "parse error");

    reserve_descriptors(&out->manifest);
    /* The measurement only reads (bytes, [sgx] values): a second thread does it while the
     * caller prepares what has no effect outside this process. */
    out->threaded = pthread_create(&out->measurer, NULL, measure_thread, out) == 0;
    if (!out->threaded)
        measure_thread(out);
}

void rt_launch_finish(rt_launch *out)
{
    if (out->threaded)
        pthread_join(out->measurer, NULL);
    out->threaded = 0;
    free(out->exe);
    out->exe = NULL;
    if (out->measure_rc != GSC_OK)
        rt_refuse("cannot measure enclave: %s",
                  out->measure_err[0] ? out->measure_err : "measurement failed");

    char want[65], got[65];
    if (memcmp(out->mrenclave, out->sig.mrenclave, 32) != 0) {
        rt_tohex(out->sig.mrenclave, 32, want);
        rt_tohex(out->mrenclave, 32, got);
        rt_refuse("MRENCLAVE mismatch: signed %s, measured %s", want, got);
    }
    if ((out->sig.debug != 0) != (out->manifest.debug != 0))
        rt_refuse("SIGSTRUCT debug attribute (%d) disagrees with sgx.debug (%d)",
                  out->sig.debug != 0, out->manifest.debug != 0);
    if (out->sig.isv_prod_id != out->manifest.isvprodid ||
        out->sig.isv_svn != out->manifest.isvsvn)
        rt_refuse("SIGSTRUCT isvprodid/isvsvn disagree with the manifest");

    uint8_t pin[32];
    if (pin_from_env("GSC_EXPECT_MRENCLAVE", pin) && memcmp(pin, out->mrenclave, 32) != 0) {
        rt_tohex(out->mrenclave, 32, got);
        rt_refuse("MRENCLAVE %s does not match GSC_EXPECT_MRENCLAVE", got);
    }
    if (pin_from_env("GSC_EXPECT_MRSIGNER", pin) && memcmp(pin, out->sig.mrsigner, 32) != 0) {
        rt_tohex(out->sig.mrsigner, 32, got);
        rt_refuse("MRSIGNER %s does not match GSC_EXPECT_MRSIGNER", got);
    }
    gsc_rt_log_level = out->manifest.log_level;
    rt_tohex(out->mrenclave, 32, got);
    LOG_DEBUG("measured launch ok: mrenclave %s", got);
}

void rt_measured_launch(rt_launch *out)
{
    rt_launch_begin(out);
    rt_launch_finish(out);
}
