/* Resolve a path the way the kernel would for an application thread: its cwd or dirfd,
 * "..", symlinks (including procfs magic links, with /proc/self and /proc/thread-self
 * meaning the application, not the supervisor), openat2 RESOLVE_* flags. The walk is done
 * one component at a time with O_PATH|O_NOFOLLOW descriptors, so the result is a
 * descriptor of the object itself, and its path comes from the kernel (readlink of
 * /proc/self/fd/N), never from the application's string. */
#ifndef GSC_RT_RESOLVE_H
#define GSC_RT_RESOLVE_H

#include <limits.h>
#include <sys/types.h>

typedef struct {
    int fd;                 /* O_PATH fd of the final object, or -1 if it does not exist */
    int parent;             /* when fd == -1: O_PATH fd of the directory it would be in */
    char name[NAME_MAX + 1];/* when fd == -1: the missing final component */
    char path[PATH_MAX];    /* canonical absolute path (or the object's description) */
    int anon;               /* 1: object has no file system path (pipe, socket, memfd...) */
    int is_link;            /* 1: fd is a symlink (final component not followed) */
    int trailing_slash;     /* the path ended in '/' */
    unsigned st_mode;       /* file type and mode of fd when known, else 0 */
} rt_resolved;

#define RT_FOLLOW 1         /* follow a final symlink */
#define RT_EMPTY_OK 2       /* "" means the dirfd itself (AT_EMPTY_PATH) */

/* tid: calling thread, tgid: its process (0: look it up when needed). dirfd: the application's dirfd (AT_FDCWD for
 * its cwd). rflags: openat2 RESOLVE_* bits. Returns 0 or -errno (what the kernel would
 * answer for a failed lookup). On success release with rt_resolved_close. */
int rt_resolve(pid_t tid, pid_t tgid, int dirfd, const char *path, int mode,
               unsigned long long rflags, rt_resolved *out);
void rt_resolved_close(rt_resolved *r);

/* The supervisor's descriptor of "/" (opened once). */
int rt_resolve_init(void);

/* 1 when a resolved path stands for an object deeper than PATH_MAX (see resolve.c). */
int rt_path_is_deep_placeholder(const char *path);

#endif
