/* Small helpers shared by the core's modules (not part of the Python-visible API). */
#ifndef GSC_COREUTIL_H
#define GSC_COREUTIL_H

#include <stddef.h>

/* Format one error line into err (if err and errlen are nonzero). */
void gsc_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1 if s[0..len) is an absolute, lexically normal path: no empty, "." or ".." segment,
 * no trailing "/", no NUL, at most max_len bytes; "/" itself is normal. */
int gsc_path_is_normal(const char *s, size_t len, size_t max_len);

#endif
