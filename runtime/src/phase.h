/* The supervisor's phases (docs/runtime.md, "Phases").
 *
 * Phase 1 (from launch): the supervisor resolves, verifies and injects the descriptor of
 * every trusted and allowed open; a background thread (SCHED_IDLE) verifies every
 * trusted file of the trusted-file table, executables (gsc.executables) first, and
 * records each verified identity in the table (ttable.h).
 * Phase 2: every table entry verified, none failed, and a Landlock domain decides file
 * access (gsc_landlock_active): opens are CONTINUEd (the kernel answers).
 * A failed verification (background or at an open) keeps phase 1 for good and refuses
 * later execs. */
#ifndef GSC_RT_PHASE_H
#define GSC_RT_PHASE_H

#include "../core/manifest.h"
#include "ttable.h"

/* Start the verifier over t (t lives as long as the supervisor). Returns an eventfd that
 * becomes readable when the verifier made progress worth a look (executables done, all
 * done), or -1 when no thread could be started (everything stays in phase 1). */
int rt_phase_start(const gsc_manifest *m, gsc_ttable *t);

/* 1 or 2. */
int rt_phase(void);
/* Executables: 0 still being verified, 1 all verified, -1 one failed. */
int rt_phase_exec_state(void);
/* A trusted file failed verification (anywhere): no phase 2, no later execs. */
void rt_phase_failure(const gsc_trusted_file *t);
/* The table (or NULL before start). */
gsc_ttable *rt_phase_table(void);

/* The pure state machine, exposed for tests: given counts, which phase. */
int rt_phase_decide(int all_done, int any_failed, int landlock, int audit_mode);

#endif
