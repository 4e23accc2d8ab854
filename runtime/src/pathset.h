/* A set of 64-bit hashes of path strings (FNV-1a), fixed size, no removal: what the
 * supervisor has already told about a literal path. Only ever a shortcut for logging and
 * checks the kernel's Landlock domain repeats, so a collision can skip a log line, never
 * grant access. Not thread-safe: the notification handlers run under one lock. */
#ifndef GSC_RT_PATHSET_H
#define GSC_RT_PATHSET_H

#include <stdint.h>

#define RT_PATHSET_SLOTS 8192
#define RT_PATHSET_MAX (RT_PATHSET_SLOTS / 2) /* full: no more insertions */

typedef struct {
    uint64_t slot[RT_PATHSET_SLOTS];
    unsigned n;
} rt_pathset;

/* Never 0 (0 marks an empty slot). */
uint64_t rt_path_hash(const char *s);
int rt_pathset_has(const rt_pathset *set, uint64_t h);
void rt_pathset_add(rt_pathset *set, uint64_t h);

#endif
