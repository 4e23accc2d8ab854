/* Whether the application runs inside a Landlock domain that decides file access (set by
 * the Landlock code before the app starts). Until that code is merged it stays 0: the
 * supervisor keeps deciding every call itself (no CONTINUE fast path for opens).
 * (landlock.c takes this definition over.) */
#include "landlock_state.h"

int gsc_landlock_active = 0;

#ifdef GSC_TEST_KNOBS
/* Sanitiser/test build only (never in build/gsc-runtime): pretend a Landlock domain is in
 * place, to exercise the phase machine before the Landlock code is merged. */
#include <stdlib.h>
#include <string.h>

__attribute__((constructor)) static void test_knob(void)
{
    const char *v = getenv("GSC_TEST_LANDLOCK_ACTIVE");
    if (v && strcmp(v, "1") == 0)
        gsc_landlock_active = 1;
}
#endif
