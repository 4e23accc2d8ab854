/* Path-modifying calls (rename*, link*, unlink*, mkdir*, chmod*, ...). With Landlock the
 * kernel decides on the object it uses; the supervisor refuses early what the policy
 * refuses (with a log line that explains the app's failure) and otherwise answers
 * CONTINUE, which can only reach what the Landlock domain permits. Without Landlock (weak
 * mode) the supervisor is the only check (see docs/runtime.md for the races it keeps). */
#include "landlock.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/policy.h"
#include "calls.h"
#include "decide.h"
#include "creds.h"
#include "log.h"
#include "resolve.h"

#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

void rt_h_modify(call *c, const rt_callspec *cs, const uint64_t *args)
{
    const rt_modargs *s = &cs->mod;
    const char *name = cs->name;
    char paths[2][PATH_MAX];
    int empty_ok[2] = {0, 0};
    unsigned long atflags = s->flags >= 0 ? (unsigned long)args[(int)s->flags] : 0;
    for (int i = 0; i < s->npaths; i++) {
        uint64_t addr = args[(int)s->path[i]];
        if (addr == 0 && s->null_ok) {
            paths[i][0] = 0;
            empty_ok[i] = 1;
            continue;
        }
        int e = rt_read_str(c, addr, paths[i], sizeof(paths[i]));
        if (e < 0 && gsc_landlock_active && rt_still_valid(c)) {
            /* a process we cannot inspect (a dropped, non-dumpable one): the kernel's
             * Landlock domain decides alone */
            LOG_DEBUG("policy: %s by pid %d left to the kernel (cannot read its path)", name,
                      (int)c->tid);
            return rt_respond(c, 0, 1);
        }
        if (e < 0)
            return rt_read_failed(c, e);
        if ((atflags & AT_EMPTY_PATH) && paths[i][0] == 0)
            empty_ok[i] = 1;
    }
    int e = rt_creds_load(c, 0);
    if (!rt_still_valid(c))
        return;
    if (e == 0)
        e = rt_creds_enter(c, 0);
    if (e < 0) {
        rt_creds_leave(c);
        return rt_respond(c, e, 0);
    }
    for (int i = 0; i < s->npaths; i++) {
        int dirfd = s->dfd[i] < 0 ? AT_FDCWD : (int)(int32_t)args[(int)s->dfd[i]];
        int follow = s->follow[i] == RT_FOLLOWS ||
                     (s->follow[i] == RT_FOLLOW_UNLESS_NOFOLLOW && !(atflags & AT_SYMLINK_NOFOLLOW)) ||
                     (s->follow[i] == RT_FOLLOW_IF_FOLLOW && (atflags & AT_SYMLINK_FOLLOW));
        int mode = (follow ? RT_FOLLOW : 0) | (empty_ok[i] ? RT_EMPTY_OK : 0);
        rt_resolved r;
        e = rt_resolve(c->tid, c->tgid, dirfd, paths[i], mode, 0, &r);
        if (e < 0) {
            rt_creds_leave(c);
            LOG_TRACE("policy: %s %s: lookup failed: %s", name, paths[i], strerror(-e));
            return rt_respond(c, e, 0);
        }
        const gsc_trusted_file *t;
        enum gsc_policy_class k = rt_classify(c->m, &r, &t);
        if (k == GSC_PATH_ALLOWED && s->content && r.fd >= 0) {
            struct stat st;
            if (fstat(r.fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink > 1) {
                rt_deny_log(c, name, r.path, "refusing to change a file with hard links");
                rt_resolved_close(&r);
                rt_creds_leave(c);
                return rt_respond(c, -EACCES, 0);
            }
        }
        char norm[PATH_MAX];
        if (k == GSC_PATH_ALLOWED && !r.anon &&
            (gsc_path_normalise(r.path, norm, sizeof(norm)) != 0 ||
             gsc_policy_has_trusted_under(c->m, norm))) {
            /* e.g. renaming an allowed directory that holds trusted files */
            k = GSC_PATH_TRUSTED_DIR;
        }
        if (k != GSC_PATH_ALLOWED) {
            if (c->m->allow_all_but_log) {
                LOG_WARN("policy: allow_all_but_log: permitting %s %s (pid %d)", name,
                         r.path, (int)c->tid);
            } else {
                rt_deny_log(c, name, r.path,
                         k == GSC_PATH_DENIED ? "not an allowed path"
                                              : "trusted files and directories are read-only");
                rt_resolved_close(&r);
                rt_creds_leave(c);
                return rt_respond(c, -EACCES, 0);
            }
        }
        LOG_DEBUG("policy: %s %s (%s): allowed (pid %d)", name, r.path, rt_class_name(k),
                  (int)c->tid);
        rt_resolved_close(&r);
    }
    rt_creds_leave(c);
    if (rt_still_valid(c))
        rt_respond(c, 0, 1);
}

