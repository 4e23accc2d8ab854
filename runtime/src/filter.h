/* The seccomp filter installed in the application process before it execs. */
#ifndef GSC_RT_FILTER_H
#define GSC_RT_FILTER_H

#include <sys/types.h>

/* Set no_new_privs and install the filter; returns the user-notification listener fd, or
 * -errno. Must be called in the (single-threaded) child right before execve. supervisor:
 * the supervisor's pid (ptrace, process_vm_* and pidfd_open of it are refused).
 * notify_creds: also notify the setuid family and setgroups (a root supervisor caches the
 * app's credentials and must learn when they may change). */
int rt_install_filter(pid_t supervisor, int notify_creds);

#endif
