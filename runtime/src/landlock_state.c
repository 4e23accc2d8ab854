/* Whether the application runs inside a Landlock domain that decides file access (set by
 * the Landlock code before the app starts). Until that code is merged it stays 0: the
 * supervisor keeps deciding every call itself (no CONTINUE fast path for opens).
 * (landlock.c takes this definition over.) */
#include "landlock_state.h"

int gsc_landlock_active = 0;
