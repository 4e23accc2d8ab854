/* The seccomp filter installed in the application process before it execs. */
#ifndef GSC_RT_FILTER_H
#define GSC_RT_FILTER_H

#include <sys/types.h>

/* Set no_new_privs and install the filter built from the call table (calls.c); returns
 * the user-notification listener fd, or -errno. Must be called in the (single-threaded)
 * child right before execve. supervisor: the supervisor's pid (ptrace, process_vm_* and
 * pidfd_open of it are refused). sup_root: the supervisor runs as root (the setuid family
 * is notified: credential caches). opens: the open family is notified (rt_opens_needed). */
int rt_install_filter(pid_t supervisor, int sup_root, int opens);

#endif
