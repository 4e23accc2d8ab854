#include "coreutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void gsc_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int gsc_path_is_normal(const char *s, size_t len, size_t max_len)
{
    if (len == 0 || len > max_len || s[0] != '/' || memchr(s, '\0', len))
        return 0;
    if (len == 1)
        return 1;
    size_t i = 1;
    while (i <= len) {
        size_t j = i;
        while (j < len && s[j] != '/')
            j++;
        size_t n = j - i;
        if (n == 0 || (n == 1 && s[i] == '.') || (n == 2 && s[i] == '.' && s[i + 1] == '.'))
            return 0;
        i = j + 1;
    }
    return 1;
}
