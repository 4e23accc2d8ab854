/* Small helpers shared by the runtime's modules. */
#ifndef GSC_RT_UTIL_H
#define GSC_RT_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Read a whole regular file (opened by the caller) into a fresh buffer with one spare NUL
 * byte. 0 ok, -errno on failure; refuses files larger than max. */
int rt_read_fd(int fd, size_t max, uint8_t **out, size_t *outlen);

/* Parse exactly 64 hex digits (either case) into 32 bytes. 0 ok, -1 otherwise. */
int rt_hex32(const char *s, uint8_t out[32]);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void rt_tohex(const uint8_t *in, size_t n, char *out);

void *rt_xmalloc(size_t n);
void *rt_xcalloc(size_t n, size_t size);
char *rt_xstrdup(const char *s);

#endif
