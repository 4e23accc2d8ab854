/* Opens the supervisor answers itself instead of the kernel, in both phases
 * (docs/runtime.md, "/dev/attestation" and "Encrypted files"):
 *   - /dev/attestation/... (h_attest.c): Gramine's attestation interface, simulated;
 *   - files under fs.mounts of type "encrypted" (h_encrypted.c): decrypted into a sealed
 *     memfd, never readable by the app directly. */
#ifndef GSC_RT_H_SPECIAL_H
#define GSC_RT_H_SPECIAL_H

#include <stddef.h>
#include <stdint.h>

#include "../core/manifest.h"
#include "launch.h"
#include "notif.h"
#include "resolve.h"

/* At launch, before the app exists (refuses the launch on an unusable key file). */
void rt_attest_init(const rt_launch *L);
void rt_enc_init(const gsc_manifest *m);

/* Is this literal path one of /dev/attestation's files (prefix "/dev/attestation/")? */
int rt_attest_path(const char *path);
/* Answer an open of an attestation path (every outcome answers the call). */
void rt_attest_open(call *c, const char *path, int flags);

/* Phase 2: may this literal path (relative ones joined to the thread's cwd or dirfd, then
 * lexically normalised) lie under an encrypted mount? Then the open takes the resolving
 * path of phase 1. Cheap no when there are no encrypted mounts. */
int rt_enc_maybe(call *c, int dirfd, const char *path);
/* The encrypted mount holding the canonical path, or NULL. */
const gsc_encrypted_mount *rt_enc_mount_of(const gsc_manifest *m, const char *path);
/* Open of a resolved object under an encrypted mount, the app's identity in force
 * (rt_creds_enter): a descriptor to inject (sealed memfd of the plaintext), a negative
 * errno (with a log line), or 1: not ours (a directory: listed like any other). */
int rt_enc_open(call *c, const gsc_encrypted_mount *em, rt_resolved *r, int flags,
                const char *what);
/* /dev/attestation/keys/NAME: a write-only descriptor the app writes the 16-byte key to,
 * or -ENOENT (no encrypted mount or key source uses NAME). */
int rt_enc_key_fd(const char *name, int accmode);

/* A sealed (no write, grow, shrink, further seals) memfd holding data, reopened read-only;
 * negative errno on failure. */
int rt_sealed_memfd(const char *label, const void *data, size_t len);

#endif
