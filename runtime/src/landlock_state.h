#ifndef GSC_RT_LANDLOCK_STATE_H
#define GSC_RT_LANDLOCK_STATE_H

/* 1 when the app's Landlock domain enforces the file policy (see landlock_state.c). */
extern int gsc_landlock_active;

#endif
