#include "ratelog.h"

#include <stdint.h>
#include <string.h>

#include "log.h"

#define SLOTS 4096            /* open addressing, at most RT_RATELOG_MAX used */
#define RT_RATELOG_MAX 1024
#define INSPECT_MAX 64

static uint64_t seen[SLOTS];  /* FNV-1a hashes of logged paths, 0 = empty */
static unsigned nseen;
static int overflow_said;
static pid_t uninspectable[INSPECT_MAX];
static unsigned nuninspectable;

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h ? h : 1;
}

int rt_first_denial(const char *path)
{
    uint64_t h = fnv(path);
    unsigned i = (unsigned)(h % SLOTS);
    while (seen[i]) {
        if (seen[i] == h)
            return 0;
        i = (i + 1) % SLOTS;
    }
    if (nseen >= RT_RATELOG_MAX) {
        if (!overflow_said) {
            overflow_said = 1;
            LOG_ERR("policy: more than %d distinct denied paths: further first denials "
                    "are logged at debug level only", RT_RATELOG_MAX);
        }
        return 0;
    }
    seen[i] = h;
    nseen++;
    return 1;
}

void rt_note_uninspectable(pid_t tid)
{
    for (unsigned i = 0; i < nuninspectable; i++)
        if (uninspectable[i] == tid)
            return;
    if (nuninspectable < INSPECT_MAX)
        uninspectable[nuninspectable++] = tid;
    else if (nuninspectable == INSPECT_MAX)
        return;
    LOG_ERR("process %d cannot be inspected (its memory is not readable by the supervisor): "
            "refusing its call", (int)tid);
}
