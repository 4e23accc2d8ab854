/* Trusted files: SHA-256 verification with a per-entry cache keyed by file identity
 * (device, inode, size, mtime, ctime), so a second open of an unchanged file is cheap. */
#ifndef GSC_RT_TRUST_H
#define GSC_RT_TRUST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../core/manifest.h"

void rt_trust_init(const gsc_manifest *m);

/* Called (from any thread) each time entry idx of m->trusted is found to match under this
 * identity (hashed, or cached): the trusted-file table records verified identities. */
void rt_trust_on_verified(void (*cb)(size_t idx, dev_t dev, ino_t ino));

/* fd: a descriptor of the file named by trusted entry t, open for reading. Returns 0 when
 * the content matches t->sha256, -EPERM on a mismatch, -errno on I/O errors. */
int rt_trust_verify(const gsc_trusted_file *t, int fd);

/* The same from another thread, with its own hash buffer of rt_trust_hash_buf_size(). */
int rt_trust_verify_buf(const gsc_trusted_file *t, int fd, uint8_t *buf);
size_t rt_trust_hash_buf_size(void);

/* Open a trusted file by its manifest path for the supervisor itself (argv_src_file):
 * resolve without symlinks, verify, return the fd or -errno. */
int rt_trust_open_path(const gsc_manifest *m, const char *path);

#endif
