/* Reader for Gramine's encrypted files ("protected files"), format versions 2 and 1.
 *
 * Decrypt only. Every node is verified (AES-128-GCM under the key and tag held by its parent)
 * before any of its bytes are returned; the checks and their order are Gramine's, and every
 * failure returns Gramine's pf_status_t value for the same input (see docs/encrypted-files.md).
 * The file's bytes are untrusted: all offsets are bounds-checked, failures fail closed. */
#ifndef GSC_PF_H
#define GSC_PF_H

#include <stddef.h>
#include <stdint.h>

#define GSC_PF_NODE_SIZE 4096
#define GSC_PF_KEY_SIZE 16
#define GSC_PF_MAX_PATH 771

/* Gramine's status values (pf_status_t) that this reader returns. */
#define GSC_PF_E_INVALID_PARAMETER -3
#define GSC_PF_E_NO_MEMORY -5
#define GSC_PF_E_INVALID_VERSION -6
#define GSC_PF_E_INVALID_HEADER -7
#define GSC_PF_E_INVALID_PATH -8
#define GSC_PF_E_CALLBACK_FAILED -11
#define GSC_PF_E_PATH_TOO_LONG -12

/* Read exactly len bytes at offset of the encrypted file into buf: return 0, or -1 on a short
 * read or an I/O error. */
typedef int (*gsc_pf_read_cb)(void *ctx, uint64_t offset, void *buf, size_t len);

typedef struct gsc_pf gsc_pf;

/* Open for reading. path: the path the file must be bound to, or NULL for no path check.
 * underlying_size: the encrypted file's size on disk. On success *out is a new handle and 0 is
 * returned; otherwise a negative status and one line in err (naming the stage "open"). */
int gsc_pf_open(const uint8_t key[16], const char *path, uint64_t underlying_size,
                gsc_pf_read_cb read_cb, void *ctx, gsc_pf **out, char *err, size_t errlen);

/* Read up to len plaintext bytes at offset into buf, verifying every node needed; *nread gets
 * the count (less than len only at the end of the file). 0 or a negative status (stage
 * "read"); on failure nothing of the failing read is to be used (buf is wiped). */
int gsc_pf_pread(gsc_pf *pf, uint64_t offset, void *buf, size_t len, size_t *nread, char *err,
                 size_t errlen);

uint64_t gsc_pf_size(const gsc_pf *pf);
int gsc_pf_major_version(const gsc_pf *pf);
/* The bound path (NUL-terminated, at most 771 bytes), or "" if the stored field has no NUL. */
const char *gsc_pf_bound_path(const gsc_pf *pf);
/* Wipe every plaintext and key and free the handle (NULL is fine). */
void gsc_pf_close(gsc_pf *pf);

/* Ready-made callbacks. ctx of gsc_pf_fd_read: an int * holding a file descriptor (pread).
 * ctx of gsc_pf_mem_read: a gsc_pf_mem. */
typedef struct {
    const uint8_t *data;
    size_t len;
} gsc_pf_mem;
int gsc_pf_fd_read(void *ctx, uint64_t offset, void *buf, size_t len);
int gsc_pf_mem_read(void *ctx, uint64_t offset, void *buf, size_t len);

#endif
