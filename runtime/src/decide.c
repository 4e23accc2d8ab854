#include "decide.h"

#include <limits.h>

#include "log.h"
#include "ratelog.h"

const char *rt_class_name(enum gsc_policy_class k)
{
    switch (k) {
    case GSC_PATH_TRUSTED: return "trusted";
    case GSC_PATH_ALLOWED: return "allowed";
    case GSC_PATH_TRUSTED_DIR: return "trusted dir";
    default: return "denied";
    }
}

enum gsc_policy_class rt_classify(const gsc_manifest *m, const rt_resolved *r,
                                  const gsc_trusted_file **t)
{
    *t = NULL;
    if (r->anon)
        return GSC_PATH_ALLOWED; /* only reachable via the app's own fds in /proc */
    char norm[PATH_MAX];
    if (gsc_path_normalise(r->path, norm, sizeof(norm)) != 0)
        return GSC_PATH_DENIED;
    enum gsc_policy_class k = gsc_policy_classify(m, norm, t);
    if (rt_path_is_deep_placeholder(norm) &&
        (k == GSC_PATH_TRUSTED || k == GSC_PATH_TRUSTED_DIR)) {
        *t = NULL; /* deeper than any manifest entry: never trusted */
        return GSC_PATH_DENIED;
    }
    return k;
}

void rt_deny_log(const call *c, const char *what, const char *path, const char *why)
{
    rt_log(rt_first_denial(path) ? GSC_LOG_ERROR : GSC_LOG_DEBUG,
           "policy: denied %s %s (pid %d): %s", what, path, (int)c->tid, why);
}
