#include "pathset.h"

uint64_t rt_path_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h ? h : 1;
}

int rt_pathset_has(const rt_pathset *set, uint64_t h)
{
    for (unsigned i = (unsigned)(h % RT_PATHSET_SLOTS); set->slot[i];
         i = (i + 1) % RT_PATHSET_SLOTS)
        if (set->slot[i] == h)
            return 1;
    return 0;
}

void rt_pathset_add(rt_pathset *set, uint64_t h)
{
    if (set->n >= RT_PATHSET_MAX)
        return;
    unsigned i = (unsigned)(h % RT_PATHSET_SLOTS);
    while (set->slot[i]) {
        if (set->slot[i] == h)
            return;
        i = (i + 1) % RT_PATHSET_SLOTS;
    }
    set->slot[i] = h;
    set->n++;
}
