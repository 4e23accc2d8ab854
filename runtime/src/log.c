#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int gsc_rt_log_level = GSC_LOG_ERROR;

static void emit(const char *prefix, const char *fmt, va_list ap)
{
    char line[1024];
    int n = snprintf(line, sizeof(line), "gsc-runtime: %s", prefix);
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    /* One line only: untrusted strings (paths) must not forge extra lines, nor carry
     * terminal control sequences (ESC, backspace ...) into the log. */
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    line[len++] = '\n';
    /* A single write keeps the line whole even when the app writes stderr too. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void rt_log(int level, const char *fmt, ...)
{
    if (level > gsc_rt_log_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit("", fmt, ap);
    va_end(ap);
}

void rt_refuse(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("launch refused: ", fmt, ap);
    va_end(ap);
    _exit(126);
}
