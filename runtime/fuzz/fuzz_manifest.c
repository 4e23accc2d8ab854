/* libFuzzer target: the strict manifest parser, then the path policy on what it accepted.
 * Invariants checked (abort on violation): every trusted path classifies TRUSTED and points
 * at its own entry; every allowed path classifies ALLOWED (unless also trusted); every
 * strict ancestor of a trusted path is ALLOWED or TRUSTED_DIR; normalisation is idempotent
 * and never produces a non-normal path; every strict ancestor of a pinned symlink may be
 * listed; every read-only path classifies ALLOWED_RO (or ALLOWED/TRUSTED, which win); the
 * launch check leaves one terminated line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "policy.h"

static void check_path(const gsc_manifest *m, const char *p)
{
    char a[GSC_MANIFEST_MAX_PATH + 1], b[GSC_MANIFEST_MAX_PATH + 1];
    if (gsc_path_normalise(p, a, sizeof a) != 0)
        return;
    if (gsc_path_normalise(a, b, sizeof b) != 0 || strcmp(a, b) != 0)
        abort();
    const gsc_trusted_file *t = NULL;
    enum gsc_policy_class c = gsc_policy_classify(m, a, &t);
    if ((c == GSC_PATH_TRUSTED) != (t != NULL))
        abort();
    (void)gsc_policy_has_trusted_under(m, a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gsc_manifest m;
    char err[256];
    if (gsc_manifest_parse((const char *)data, size, &m, err, sizeof err) != 0) {
        if (!memchr(err, '\0', sizeof err) || strncmp(err, "line ", 5) != 0)
            abort();
        /* also exercise normalisation on the raw input as a path */
        char *p = malloc(size + 2);
        if (p) {
            p[0] = '/';
            memcpy(p + 1, data, size);
            p[size + 1] = '\0';
            gsc_manifest empty;
            memset(&empty, 0, sizeof empty);
            check_path(&empty, p);
            free(p);
        }
        return 0;
    }
    for (size_t i = 0; i < m.ntrusted; i++) {
        const gsc_trusted_file *t = NULL;
        enum gsc_policy_class tc = gsc_policy_classify(&m, m.trusted[i].path, &t);
        if (gsc_policy_is_container_file(m.trusted[i].path)) {
            if (tc != GSC_PATH_ALLOWED_RO || t)
                abort();
        } else if (tc != GSC_PATH_TRUSTED || t != &m.trusted[i]) {
            abort();
        }
        char buf[GSC_MANIFEST_MAX_PATH + 1];
        strcpy(buf, m.trusted[i].path);
        char *slash;
        while ((slash = strrchr(buf, '/')) != NULL) {
            if (slash == buf)
                buf[1] = '\0';
            else
                *slash = '\0';
            enum gsc_policy_class c = gsc_policy_classify(&m, buf, NULL);
            /* ALLOWED_RO: a trusted path under Docker's /etc/hosts etc. (files, never
             * directories at run time; nothing can be found there) */
            if (c != GSC_PATH_TRUSTED_DIR && c != GSC_PATH_ALLOWED && c != GSC_PATH_TRUSTED &&
                c != GSC_PATH_ALLOWED_RO)
                abort();
            if (!gsc_policy_has_trusted_under(&m, buf))
                abort();
            if (slash == buf)
                break;
        }
    }
    for (size_t i = 0; i < m.nallowed; i++) {
        enum gsc_policy_class c = gsc_policy_classify(&m, m.allowed[i], NULL);
        if (c != GSC_PATH_ALLOWED && c != GSC_PATH_TRUSTED && c != GSC_PATH_ALLOWED_RO)
            abort();
        check_path(&m, m.allowed[i]);
    }
    for (size_t i = 0; i < m.nreadonly; i++) {
        /* a read-only path is never writable through the policy unless an allowed path
         * covers it (allowed wins); an exact trusted file stays trusted */
        enum gsc_policy_class c = gsc_policy_classify(&m, m.readonly[i], NULL);
        if (c != GSC_PATH_ALLOWED_RO && c != GSC_PATH_ALLOWED && c != GSC_PATH_TRUSTED)
            abort();
        check_path(&m, m.readonly[i]);
    }
    for (size_t i = 0; i < m.nsymlinks; i++) {
        /* every strict ancestor of a pinned symlink may be listed (or is writable) */
        char buf[GSC_MANIFEST_MAX_PATH + 1];
        strcpy(buf, m.symlinks[i].path);
        char *slash = strrchr(buf, '/');
        if (slash == buf)
            buf[1] = '\0';
        else if (slash)
            *slash = '\0';
        enum gsc_policy_class c = gsc_policy_classify(&m, buf, NULL);
        if (c != GSC_PATH_TRUSTED_DIR && c != GSC_PATH_ALLOWED && c != GSC_PATH_ALLOWED_RO)
            abort();
        check_path(&m, m.symlinks[i].path);
    }
    char perr[256];
    if (gsc_policy_check(&m, perr, sizeof perr) != 0 && !memchr(perr, '\0', sizeof perr))
        abort();
    if (m.entrypoint)
        check_path(&m, m.entrypoint);
    gsc_manifest_free(&m);
    return 0;
}
