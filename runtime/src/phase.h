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

/* Verification at launch (gsc.verify_trusted_files = "at_launch"): hash every trusted
 * file of t now, before the app exists, in up to four threads. 0 when none failed (the
 * supervisor starts in phase 2); else -1 and one line naming the first failed file in
 * err. A later rt_phase_start finds nothing left to do. */
int rt_phase_verify_now(const gsc_manifest *m, gsc_ttable *t, char *err, size_t errlen);

/* Must the app's opens be notified? Not when every trusted file was verified at launch,
 * Landlock decides access, and no open needs the supervisor (no encrypted mount, no
 * /dev/attestation: sgx.remote_attestation "none", no audit mode, log level below debug:
 * denials are logged only by the supervisor). */
int rt_opens_needed(const gsc_manifest *m, int verified_at_launch);

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
