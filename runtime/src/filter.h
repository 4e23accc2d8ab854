/* The seccomp filter installed in the application process before it execs. */
#ifndef GSC_RT_FILTER_H
#define GSC_RT_FILTER_H

/* Set no_new_privs and install the filter; returns the user-notification listener fd, or
 * -errno. Must be called in the (single-threaded) child right before execve. */
int rt_install_filter(void);

#endif
