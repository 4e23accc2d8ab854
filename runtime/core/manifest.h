/* Strict reader of gsc's canonical manifest form (see docs/manifest-format.md).
 * Accepts exactly what gsc.manifest.canonical writes and refuses anything else. */
#ifndef GSC_MANIFEST_H
#define GSC_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "measure.h"

enum gsc_remote_attestation { GSC_RA_NONE = 0, GSC_RA_EPID = 1, GSC_RA_DCAP = 2 };
enum gsc_log_level { GSC_LOG_ERROR = 0, GSC_LOG_WARNING = 1, GSC_LOG_DEBUG = 2, GSC_LOG_TRACE = 3 };

/* sgx.cpu_features.*: index order and values. */
enum gsc_cpu_feature { GSC_CPU_AVX = 0, GSC_CPU_AVX512 = 1, GSC_CPU_AMX = 2, GSC_CPU_MPX = 3,
                       GSC_CPU_PKRU = 4, GSC_CPU_NFEATURES = 5 };
enum gsc_cpu_setting { GSC_CPU_UNSPECIFIED = 0, GSC_CPU_REQUIRED = 1, GSC_CPU_DISABLED = 2 };

/* Limits of the canonical form (docs/manifest-format.md). */
#define GSC_MANIFEST_MAX_BYTES (64u * 1024u * 1024u)
#define GSC_MANIFEST_MAX_STRING 65536u  /* decoded bytes of one string or key segment */
#define GSC_MANIFEST_MAX_PATH 4095u     /* bytes of a path, without the NUL */
#define GSC_MANIFEST_MAX_SEGMENTS 32u   /* segments of one dotted key */

typedef struct {
    char *path;             /* absolute, normalised ("file:" stripped) */
    uint8_t sha256[32];
} gsc_trusted_file;

typedef struct {
    char *path;             /* absolute, normalised */
    char *target;           /* the readlink() target, verbatim (non-empty) */
} gsc_symlink;

typedef struct {
    char *name;
    char *value;            /* NULL when passthrough */
    int passthrough;
} gsc_env_entry;

/* fs.mounts of type "encrypted" (docs/encrypted-files.md): read-only in native mode. */
typedef struct {
    char *path;             /* absolute, normalised; uri = "file:" + path */
    char *key_name;         /* key_name, default "default" */
} gsc_encrypted_mount;

/* A named 16-byte wrap key (fs.insecure__keys.NAME) or a key file the operator mounts
 * (gsc.encrypted_key_files.NAME). */
typedef struct {
    char *name;
    uint8_t key[16];
} gsc_manifest_key;

typedef struct {
    char *name;
    char *path;             /* absolute, normalised */
} gsc_key_file;

#define GSC_KEY_NAME_MAX 64u  /* [A-Za-z0-9_-], not starting with '_' */

typedef struct {
    /* libos / loader */
    char *entrypoint;                   /* libos.entrypoint */
    char **argv; size_t argc; int has_argv;  /* loader.argv */
    char *argv_src_file;                /* loader.argv_src_file or NULL */
    int use_cmdline_argv;               /* loader.insecure__use_cmdline_argv */
    gsc_env_entry *env; size_t nenv;    /* loader.env.*, in manifest order */
    int use_host_env;                   /* loader.insecure__use_host_env */
    int log_level;                      /* loader.log_level */
    char *start_dir;                    /* fs.start_dir or NULL */
    /* sgx */
    gsc_enclave_params params;          /* enclave_size, max_threads, edmm_enable */
    int debug;
    uint16_t isvprodid, isvsvn;
    gsc_trusted_file *trusted; size_t ntrusted;  /* sorted by path, unique */
    char **allowed; size_t nallowed;             /* normalised paths */
    int allow_all_but_log;              /* sgx.file_check_policy */
    /* added by the manifest work (after the lead's fields) */
    int use_exinfo;                     /* sgx.use_exinfo */
    int cpu_features[GSC_CPU_NFEATURES];/* enum gsc_cpu_setting; mpx/pkru default DISABLED */
    char **tmpfs; size_t ntmpfs;        /* fs.mounts of type "tmpfs": paths, sorted, unique;
                                           writable like allowed directories */
    int has_enclave_size;               /* sgx.enclave_size was given (else the default) */
    /* namespace and config pins (issue 8) */
    gsc_symlink *symlinks; size_t nsymlinks;/* gsc.symlinks: sorted by path, unique; no path
                                           is a trusted file or above one */
    int allow_no_landlock;              /* gsc.insecure__allow_no_landlock */
    int has_container_config;           /* gsc.container_config was given (a string; the
                                           runtime does not use its value) */
    /* encrypted files (issue 14) */
    gsc_encrypted_mount *encrypted; size_t nencrypted;  /* sorted by path */
    gsc_manifest_key *insecure_keys; size_t ninsecure_keys; /* fs.insecure__keys.NAME */
    gsc_key_file *key_files; size_t nkey_files;  /* gsc.encrypted_key_files.NAME */
    int allow_manifest_keys;            /* gsc.insecure__allow_manifest_keys */
    char **readonly; size_t nreadonly;  /* gsc.readonly_files: normalised paths, sorted,
                                           unique; readable, never writable */
    char **executables; size_t nexecutables;  /* gsc.executables: trusted files with an x
                                           bit in the image, sorted, unique */
    int has_executables;                /* the key is present (older builds: absent) */
    /* launch-time verification and attestation (issue 11) */
    int remote_attestation;             /* sgx.remote_attestation: GSC_RA_* (default none;
                                           /dev/attestation is served whenever the
                                           supervisor sees opens, see docs/runtime.md) */
    int verify_at_launch;               /* gsc.verify_trusted_files = "at_launch" */
} gsc_manifest;

/* Is name a valid key name (1..GSC_KEY_NAME_MAX of [A-Za-z0-9_-], no leading '_')? */
int gsc_key_name_ok(const char *name, size_t len);

/* 0 ok; negative on any deviation from the canonical form or schema, with one line in
 * err naming the line number. On failure *out is left freed/zeroed. */
int gsc_manifest_parse(const char *data, size_t len, gsc_manifest *out,
                       char *err, size_t errlen);
void gsc_manifest_free(gsc_manifest *m);

/* Accessors for fields whose types live in other modules' cdefs (used through cffi). */
uint64_t gsc_manifest_enclave_size(const gsc_manifest *m);
uint32_t gsc_manifest_max_threads(const gsc_manifest *m);
int gsc_manifest_edmm_enable(const gsc_manifest *m);

#endif
