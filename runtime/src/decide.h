/* Shared pieces of the handlers' decisions: the policy class of a resolved object and the
 * (rate-limited) denial log. */
#ifndef GSC_RT_DECIDE_H
#define GSC_RT_DECIDE_H

#include "../core/policy.h"
#include "notif.h"
#include "resolve.h"

const char *rt_class_name(enum gsc_policy_class k);
enum gsc_policy_class rt_classify(const gsc_manifest *m, const rt_resolved *r,
                                  const gsc_trusted_file **t);
/* "policy: denied WHAT PATH (pid N): WHY": at error level the first time for PATH, at
 * debug level afterwards. */
void rt_deny_log(const call *c, const char *what, const char *path, const char *why);

#endif
