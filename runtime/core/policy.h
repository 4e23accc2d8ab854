/* Path policy: what the manifest says about one normalised absolute path. Pure function of
 * (manifest, path); the runtime's supervisor does resolution, opening and hashing. */
#ifndef GSC_POLICY_H
#define GSC_POLICY_H

#include "manifest.h"

enum gsc_policy_class {
    GSC_PATH_DENIED = 0,      /* not declared */
    GSC_PATH_TRUSTED = 1,     /* exact trusted file: read-only, hash must match */
    GSC_PATH_ALLOWED = 2,     /* allowed file or under an allowed directory: read/write */
    GSC_PATH_TRUSTED_DIR = 3, /* a directory on the way to trusted files or pinned
                                 symlinks: may be listed */
    GSC_PATH_ALLOWED_RO = 4,  /* a gsc.readonly_files path or under one (not under an
                                 allowed path, which wins), and Docker's per-container
                                 /etc/hosts, /etc/hostname, /etc/resolv.conf (whatever the
                                 manifest says): may be opened read-only (directories
                                 listed), never trusted, never written */
};

/* For GSC_PATH_TRUSTED, *trusted points at the manifest entry. */
enum gsc_policy_class gsc_policy_classify(const gsc_manifest *m, const char *path,
                                          const gsc_trusted_file **trusted);

/* 1 when path (normalised, absolute) is a trusted file, a pinned symlink or a directory
 * above one: renaming, removing or replacing it would alter a trusted file or the pinned
 * namespace. 0 otherwise. Lets the supervisor
 * refuse path-modifying calls on an allowed directory that contains trusted files. */
int gsc_policy_has_trusted_under(const gsc_manifest *m, const char *path);

/* 1 when path is one of Docker's per-container files (GSC_PATH_ALLOWED_RO). */
int gsc_policy_is_container_file(const char *path);

/* Launch-time consistency of the manifest with the kernel's rule model (Landlock rights
 * are unioned along a path, so nothing trusted may lie in a writable place): 0, or -1
 * with one line in err when a trusted file or a pinned symlink is an allowed path, a
 * read-only path or a tmpfs mount, or lies under one. Docker's per-container files are not trusted (see
 * GSC_PATH_ALLOWED_RO) and are skipped.
 * Call after gsc_manifest_parse, before building the Landlock domain. */
int gsc_policy_check(const gsc_manifest *m, char *err, size_t errlen);

/* Lexically normalise an absolute path (collapse //, ., ..; never above /). Returns 0, or
 * -1 if path is not absolute or does not fit in outlen (intermediate results included:
 * "/a/.." needs 3 bytes). */
int gsc_path_normalise(const char *path, char *out, size_t outlen);

#endif
