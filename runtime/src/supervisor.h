/* The supervisor: answers the application's seccomp notifications (file and exec policy)
 * and does PID 1's duties (signal forwarding, reaping). */
#ifndef GSC_RT_SUPERVISOR_H
#define GSC_RT_SUPERVISOR_H

#include <sys/types.h>

#include "../core/manifest.h"

/* Runs until the application process `app` exits; returns the exit status to use (its
 * status, or 128+N when killed by signal N). notify_fd: the seccomp listener; sigfd: a
 * signalfd for SIGCHLD and the forwarded signals; verifier_fd: the background verifier's
 * eventfd (phase.h), or -1. */
int rt_supervise(const gsc_manifest *m, int notify_fd, int sigfd, int verifier_fd, pid_t app);

#endif
