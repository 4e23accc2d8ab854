/* One-line diagnostics on stderr, prefixed "gsc-runtime: ". */
#ifndef GSC_RT_LOG_H
#define GSC_RT_LOG_H

#include "../core/manifest.h"

/* Current threshold (enum gsc_log_level); messages above it are dropped. */
extern int gsc_rt_log_level;

void rt_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "gsc-runtime: launch refused: <reason>" and exit 126. */
__attribute__((noreturn, format(printf, 1, 2))) void rt_refuse(const char *fmt, ...);

#define LOG_ERR(...) rt_log(GSC_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(...) rt_log(GSC_LOG_WARNING, __VA_ARGS__)
#define LOG_DEBUG(...) rt_log(GSC_LOG_DEBUG, __VA_ARGS__)
#define LOG_TRACE(...) rt_log(GSC_LOG_TRACE, __VA_ARGS__)

#endif
