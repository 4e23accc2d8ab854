/* The exec rule: the program, its ELF interpreter (PT_INTERP) and every "#!" interpreter
 * in the chain must be trusted files whose content verifies. */
#ifndef GSC_RT_EXEC_H
#define GSC_RT_EXEC_H

#include <stddef.h>
#include <sys/types.h>

#include "../core/manifest.h"

/* 0: allowed; otherwise -errno for the app, with a reason in why. atflags: AT_EMPTY_PATH,
 * AT_SYMLINK_NOFOLLOW as given to execveat. */
int rt_exec_check(const gsc_manifest *m, pid_t tid, pid_t tgid, int dirfd, const char *path,
                  int atflags, char *why, size_t whylen);

#endif
