/* Rate-limited policy diagnostics: the first denial of each path is logged at error level
 * (the default), later ones at debug level; "cannot be inspected" once per process. */
#ifndef GSC_RT_RATELOG_H
#define GSC_RT_RATELOG_H

#include <sys/types.h>

/* 1 when this (what, path) was not reported at the default level yet (and remembers it).
 * After RT_RATELOG_MAX distinct paths, says so once and returns 0 from then on. */
int rt_first_denial(const char *path);

/* Log "process N cannot be inspected" the first time for this process. */
void rt_note_uninspectable(pid_t tid);

#endif
