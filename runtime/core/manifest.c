/* Strict reader of gsc's canonical manifest form and schema (docs/manifest-format.md).
 *
 * The input is untrusted until the caller has verified it, and even then it is parsed
 * defensively: a single pass over the lines, no recursion, every read bounds-checked
 * against the current line, every size limited. Anything that is not exactly what
 * gsc.manifest.canonical.dumps writes, or that the schema does not allow, is refused with
 * "line N: problem". */
#include "manifest.h"
#include "coreutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER "# gsc canonical manifest v1"

enum vtype { V_STR = 1, V_INT = 2, V_BOOL = 3 };

typedef struct {
    int type;
    char *s;        /* V_STR: decoded, NUL-terminated, malloc'd (owned by the scalar) */
    size_t slen;
    int64_t i;      /* V_INT, V_BOOL */
} scalar;

typedef struct {
    char *buf;      /* decoded, NUL-terminated */
    size_t len;
} segment;

typedef struct {
    segment seg[GSC_MANIFEST_MAX_SEGMENTS];
    size_t n;
} key;

typedef struct {
    char *key;      /* decoded key of an inline-table pair */
    size_t keylen;
    scalar val;
} pair;

typedef struct {
    pair *pairs;
    size_t n, cap;
} table;

enum slot {
    S_IGNORED, S_ENTRYPOINT, S_ARGV, S_ARGV_SRC, S_USE_CMDLINE, S_ENV, S_ENV_VALUE,
    S_ENV_PASSTHROUGH, S_HOST_ENV, S_LOG_LEVEL, S_START_DIR, S_MOUNTS, S_ENCLAVE_SIZE,
    S_MAX_THREADS, S_EDMM, S_DEBUG, S_EXINFO, S_ISVPRODID, S_ISVSVN, S_CPU, S_TRUSTED,
    S_ALLOWED, S_FILE_CHECK_POLICY, S_SYMLINKS, S_CONTAINER_CONFIG, S_NO_LANDLOCK,
    S_INSECURE_KEY, S_KEY_FILE, S_ALLOW_MANIFEST_KEYS, S_READONLY, S_EXECUTABLES,
    S_REMOTE_ATTESTATION, S_VERIFY_TRUSTED,
};

typedef struct {
    const char *data, *end;   /* whole input */
    const char *p, *le;       /* cursor within the current line; le points at its '\n' */
    size_t line;
    char *err;
    size_t errlen;
    gsc_manifest *m;
    /* bookkeeping */
    key prev;                 /* previous top-level key */
    int have_prev;
    size_t argv_line, argv_src_line, cmdline_line, mounts_line;
    size_t cap_trusted, cap_allowed, cap_env, cap_argv, cap_tmpfs, cap_symlinks, cap_readonly,
        cap_executables;
    size_t executables_line;
    size_t symlinks_line, keys_line;
    size_t cap_encrypted, cap_insecure_keys, cap_key_files;
    char **mount_paths; size_t nmount_paths, cap_mount_paths;
    int seen_entrypoint;
} parser;

static const char *const IGNORED[] = {
    "libos.check_invalid_pointers",
    "loader.entrypoint",
    "loader.insecure__disable_aslr",
    "loader.pal_internal_mem_size",
    "sgx.enable_stats",
    "sgx.insecure__allow_memfaults_without_exinfo",
    "sgx.insecure__rpc_thread_num",
    "sgx.preheat_enclave",
    "sgx.profile",
    "sgx.ra_client_linkable",
    "sgx.ra_client_spid",
    "sgx.vtune_profile",
    "sys",
};

static const char *const CPU_NAMES[GSC_CPU_NFEATURES] = { "avx", "avx512", "amx", "mpx", "pkru" };

__attribute__((format(printf, 2, 3)))
static int fail(parser *ps, const char *fmt, ...)
{
    if (ps->err && ps->errlen) {
        int n = snprintf(ps->err, ps->errlen, "line %zu: ", ps->line);
        if (n >= 0 && (size_t)n < ps->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static int fail_nomem(parser *ps) { return fail(ps, "out of memory"); }

/* Grow *arr (elements of size sz) so that it holds at least need elements. */
static int grow(void **arr, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return -1;
        ncap *= 2;
    }
    if (ncap > SIZE_MAX / sz)
        return -1;
    void *n = realloc(*arr, ncap * sz);
    if (!n)
        return -1;
    *arr = n;
    *cap = ncap;
    return 0;
}

static void scalar_free(scalar *v)
{
    free(v->s);
    v->s = NULL;
}

static void key_free(key *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->seg[i].buf);
    k->n = 0;
}

static void table_free(table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->pairs[i].key);
        scalar_free(&t->pairs[i].val);
    }
    free(t->pairs);
    t->pairs = NULL;
    t->n = t->cap = 0;
}

static int bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int r = n ? memcmp(a, b, n) : 0;
    if (r)
        return r < 0 ? -1 : 1;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int is_bare_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

static int expect(parser *ps, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(ps->le - ps->p) < n || memcmp(ps->p, lit, n) != 0)
        return -1;
    ps->p += n;
    return 0;
}

static int is_hex_upper(unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

static int hexval(unsigned char c) { return c <= '9' ? c - '0' : c - 'A' + 10; }

/* Length of the valid UTF-8 sequence (2..4 bytes) starting at p, or 0. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c == 0xE0) { n = 3; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) n = 3;
    else if (c == 0xED) { n = 3; hi = 0x9F; }
    else if (c >= 0xEE && c <= 0xEF) n = 3;
    else if (c == 0xF0) { n = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) n = 4;
    else if (c == 0xF4) { n = 4; hi = 0x8F; }
    else return 0;
    if ((size_t)(end - p) < n)
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

/* Parse a canonical basic string at the cursor (which is at '"'). */
static int parse_string(parser *ps, char **out, size_t *outlen)
{
    const unsigned char *p = (const unsigned char *)ps->p + 1;
    const unsigned char *le = (const unsigned char *)ps->le;
    const unsigned char *q = p;
    /* find the closing quote; the decoded length is at most the raw length */
    while (q < le && *q != '"') {
        if (*q == '\\')
            q++;
        if (q < le)
            q++;
    }
    if (q >= le)
        return fail(ps, "unterminated string");
    size_t raw = (size_t)(q - p);
    char *buf = malloc(raw + 1);
    if (!buf)
        return fail_nomem(ps);
    size_t n = 0;
    while (p < q) {
        unsigned char c = *p;
        if (c == '\\') {
            unsigned char e = p[1];   /* p + 1 < q: a backslash never ends the raw span */
            char d;
            switch (e) {
            case '"': d = '"'; break;
            case '\\': d = '\\'; break;
            case 'n': d = '\n'; break;
            case 't': d = '\t'; break;
            case 'r': d = '\r'; break;
            case 'b': d = '\b'; break;
            case 'f': d = '\f'; break;
            case 'u': {
                if (q - p < 6 || p[2] != '0' || p[3] != '0' || !is_hex_upper(p[4]) ||
                    !is_hex_upper(p[5])) {
                    free(buf);
                    return fail(ps, "non-canonical escape (only \\u00XX, upper-case, for "
                                    "control characters)");
                }
                int v = hexval(p[4]) * 16 + hexval(p[5]);
                if (v == 0) {
                    free(buf);
                    return fail(ps, "NUL characters are not allowed");
                }
                if (!((v < 0x20 && v != '\b' && v != '\t' && v != '\n' && v != '\f' &&
                       v != '\r') || v == 0x7f)) {
                    free(buf);
                    return fail(ps, "non-canonical escape \\u00%c%c", p[4], p[5]);
                }
                buf[n++] = (char)v;
                p += 6;
                continue;
            }
            default:
                free(buf);
                return fail(ps, "invalid or non-canonical escape");
            }
            buf[n++] = d;
            p += 2;
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            free(buf);
            return fail(ps, "control character in string must be escaped");
        }
        if (c < 0x80) {
            buf[n++] = (char)c;
            p++;
            continue;
        }
        size_t len = utf8_seq(p, q);
        if (!len) {
            free(buf);
            return fail(ps, "invalid UTF-8 in string");
        }
        memcpy(buf + n, p, len);
        n += len;
        p += len;
    }
    if (n > GSC_MANIFEST_MAX_STRING) {
        free(buf);
        return fail(ps, "string longer than %u bytes", GSC_MANIFEST_MAX_STRING);
    }
    buf[n] = '\0';
    ps->p = (const char *)q + 1;
    *out = buf;
    *outlen = n;
    return 0;
}

/* One key segment: bare, or quoted when (and only when) it cannot be bare. */
static int parse_segment(parser *ps, char **out, size_t *outlen)
{
    if (ps->p < ps->le && *ps->p == '"') {
        if (parse_string(ps, out, outlen) < 0)
            return -1;
        int bare = *outlen > 0;
        for (size_t i = 0; bare && i < *outlen; i++)
            bare = is_bare_char((unsigned char)(*out)[i]);
        if (bare) {
            free(*out);
            *out = NULL;
            return fail(ps, "quoted key segment must be written bare");
        }
        return 0;
    }
    const char *s = ps->p;
    while (ps->p < ps->le && is_bare_char((unsigned char)*ps->p))
        ps->p++;
    size_t n = (size_t)(ps->p - s);
    if (!n)
        return fail(ps, "expected a key");
    if (n > GSC_MANIFEST_MAX_STRING)
        return fail(ps, "key segment longer than %u bytes", GSC_MANIFEST_MAX_STRING);
    char *b = malloc(n + 1);
    if (!b)
        return fail_nomem(ps);
    memcpy(b, s, n);
    b[n] = '\0';
    *out = b;
    *outlen = n;
    return 0;
}

static int parse_key(parser *ps, key *k)
{
    k->n = 0;
    for (;;) {
        if (k->n == GSC_MANIFEST_MAX_SEGMENTS)
            return fail(ps, "more than %u key segments", GSC_MANIFEST_MAX_SEGMENTS);
        segment *sg = &k->seg[k->n];
        if (parse_segment(ps, &sg->buf, &sg->len) < 0)
            return -1;
        k->n++;
        if (ps->p < ps->le && *ps->p == '.') {
            ps->p++;
            continue;
        }
        return 0;
    }
}

static int parse_int(parser *ps, int64_t *out)
{
    const char *p = ps->p;
    int neg = 0;
    if (p < ps->le && *p == '-') {
        neg = 1;
        p++;
    }
    if (p >= ps->le || *p < '0' || *p > '9')
        return fail(ps, "expected a value");
    if (*p == '0' && (neg || (p + 1 < ps->le && p[1] >= '0' && p[1] <= '9')))
        return fail(ps, "non-canonical integer");
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    while (p < ps->le && *p >= '0' && *p <= '9') {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (limit - d) / 10)
            return fail(ps, "integer does not fit in 64 bits");
        v = v * 10 + d;
        p++;
    }
    if (p < ps->le && (*p == '.' || *p == 'e' || *p == 'E'))
        return fail(ps, "floats are not allowed");
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    ps->p = p;
    return 0;
}

static int parse_scalar(parser *ps, scalar *v)
{
    memset(v, 0, sizeof *v);
    if (ps->p >= ps->le)
        return fail(ps, "expected a value");
    char c = *ps->p;
    if (c == '"') {
        v->type = V_STR;
        return parse_string(ps, &v->s, &v->slen);
    }
    if (expect(ps, "true") == 0) {
        v->type = V_BOOL;
        v->i = 1;
        return 0;
    }
    if (expect(ps, "false") == 0) {
        v->type = V_BOOL;
        return 0;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        v->type = V_INT;
        return parse_int(ps, &v->i);
    }
    if (c == '{')
        return fail(ps, "inline tables are only allowed as array elements");
    if (c == '[')
        return fail(ps, "nested arrays are not allowed");
    return fail(ps, "expected a string, integer or boolean");
}

/* "{ k = v, k2 = v2 }" with single-segment keys in strictly ascending order. */
static int parse_table(parser *ps, table *t)
{
    if (expect(ps, "{ ") < 0)
        return fail(ps, "expected \"{ \"");
    for (;;) {
        if (grow((void **)&t->pairs, &t->cap, t->n + 1, sizeof *t->pairs) < 0)
            return fail_nomem(ps);
        pair *pr = &t->pairs[t->n];
        memset(pr, 0, sizeof *pr);
        if (parse_segment(ps, &pr->key, &pr->keylen) < 0)
            return -1;
        t->n++;
        if (t->n > 1) {
            pair *pv = &t->pairs[t->n - 2];
            int r = bytes_cmp(pv->key, pv->keylen, pr->key, pr->keylen);
            if (r == 0)
                return fail(ps, "duplicate key \"%.200s\" in inline table", pr->key);
            if (r > 0)
                return fail(ps, "inline table keys are not sorted");
        }
        if (expect(ps, " = ") < 0)
            return fail(ps, "expected \" = \" after an inline table key");
        if (parse_scalar(ps, &pr->val) < 0)
            return -1;
        if (expect(ps, ", ") == 0)
            continue;
        if (expect(ps, " }") == 0)
            return 0;
        return fail(ps, "expected \", \" or \" }\" in inline table");
    }
}

/* ---- schema ------------------------------------------------------------------------ */

/* Does the key equal (exact) or start with (prefix) a dotted name of bare segments? */
static int key_match(const key *k, const char *dotted, int prefix)
{
    size_t i = 0;
    const char *s = dotted;
    for (;;) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        if (i >= k->n || k->seg[i].len != n || memcmp(k->seg[i].buf, s, n) != 0)
            return 0;
        i++;
        if (!dot)
            break;
        s = dot + 1;
    }
    return prefix ? 1 : i == k->n;
}

static int classify_key(const key *k, int *cpu)
{
    for (size_t i = 0; i < sizeof IGNORED / sizeof IGNORED[0]; i++)
        if (key_match(k, IGNORED[i], 1))
            return S_IGNORED;
    static const struct { const char *name; int slot; } exact[] = {
        { "libos.entrypoint", S_ENTRYPOINT },
        { "loader.argv", S_ARGV },
        { "loader.argv_src_file", S_ARGV_SRC },
        { "loader.insecure__use_cmdline_argv", S_USE_CMDLINE },
        { "loader.insecure__use_host_env", S_HOST_ENV },
        { "loader.log_level", S_LOG_LEVEL },
        { "fs.start_dir", S_START_DIR },
        { "fs.mounts", S_MOUNTS },
        { "sgx.enclave_size", S_ENCLAVE_SIZE },
        { "sgx.max_threads", S_MAX_THREADS },
        { "sgx.edmm_enable", S_EDMM },
        { "sgx.debug", S_DEBUG },
        { "sgx.use_exinfo", S_EXINFO },
        { "sgx.isvprodid", S_ISVPRODID },
        { "sgx.isvsvn", S_ISVSVN },
        { "sgx.trusted_files", S_TRUSTED },
        { "sgx.allowed_files", S_ALLOWED },
        { "sgx.file_check_policy", S_FILE_CHECK_POLICY },
        { "sgx.remote_attestation", S_REMOTE_ATTESTATION },
        { "gsc.verify_trusted_files", S_VERIFY_TRUSTED },
        { "gsc.symlinks", S_SYMLINKS },
        { "gsc.readonly_files", S_READONLY },
        { "gsc.executables", S_EXECUTABLES },
        { "gsc.container_config", S_CONTAINER_CONFIG },
        { "gsc.insecure__allow_no_landlock", S_NO_LANDLOCK },
        { "gsc.insecure__allow_manifest_keys", S_ALLOW_MANIFEST_KEYS },
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (key_match(k, exact[i].name, 0))
            return exact[i].slot;
    if (k->n == 3 && key_match(k, "sgx.cpu_features", 1)) {
        for (int f = 0; f < GSC_CPU_NFEATURES; f++)
            if (strcmp(k->seg[2].buf, CPU_NAMES[f]) == 0 &&
                k->seg[2].len == strlen(CPU_NAMES[f])) {
                *cpu = f;
                return S_CPU;
            }
    }
    if (k->n == 3 && key_match(k, "fs.insecure__keys", 1))
        return S_INSECURE_KEY;
    if (k->n == 3 && key_match(k, "gsc.encrypted_key_files", 1))
        return S_KEY_FILE;
    if (key_match(k, "loader.env", 1)) {
        if (k->n == 3)
            return S_ENV;
        if (k->n == 4 && key_match(k, "loader.env", 1)) {
            if (k->seg[3].len == 5 && memcmp(k->seg[3].buf, "value", 5) == 0)
                return S_ENV_VALUE;
            if (k->seg[3].len == 11 && memcmp(k->seg[3].buf, "passthrough", 11) == 0)
                return S_ENV_PASSTHROUGH;
        }
    }
    return -1;
}

/* Printable form of a key for messages (segments joined by '.', truncated). */
static void key_text(const key *k, char *out, size_t outlen)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < k->n && n + 1 < outlen; i++) {
        if (i && n + 1 < outlen)
            out[n++] = '.';
        for (size_t j = 0; j < k->seg[i].len && n + 1 < outlen; j++) {
            unsigned char c = (unsigned char)k->seg[i].buf[j];
            out[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
        }
    }
    out[n < outlen ? n : outlen - 1] = '\0';
}

static int is_normal_path(const char *s, size_t len)
{
    return gsc_path_is_normal(s, len, GSC_MANIFEST_MAX_PATH);
}

static int want_type(parser *ps, const scalar *v, int type, const char *what)
{
    static const char *const names[] = { "?", "a string", "an integer", "a boolean" };
    if (v->type != type)
        return fail(ps, "%s must be %s, not %s", what, names[type], names[v->type]);
    return 0;
}

static int want_path(parser *ps, const scalar *v, const char *what)
{
    if (want_type(ps, v, V_STR, what) < 0)
        return -1;
    if (!is_normal_path(v->s, v->slen))
        return fail(ps, "%s: not a normalised absolute path", what);
    return 0;
}

/* "file:" + normalised absolute path; returns a pointer into v->s past "file:". */
static const char *want_file_uri(parser *ps, const scalar *v, const char *what)
{
    if (want_type(ps, v, V_STR, what) < 0)
        return NULL;
    if (v->slen < 5 || memcmp(v->s, "file:", 5) != 0) {
        fail(ps, "%s: not a file: URI", what);
        return NULL;
    }
    if (!is_normal_path(v->s + 5, v->slen - 5)) {
        fail(ps, "%s: not a normalised absolute path", what);
        return NULL;
    }
    return v->s + 5;
}

static char *take(scalar *v)
{
    char *s = v->s;
    v->s = NULL;
    return s;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

static int want_choice(parser *ps, const scalar *v, const char *what, const char *const *choices,
                       size_t n)
{
    if (want_type(ps, v, V_STR, what) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(v->s, choices[i]) == 0 && strlen(choices[i]) == v->slen)
            return (int)i;
    return fail(ps, "%s: invalid value", what);
}

static int want_int(parser *ps, const scalar *v, const char *what, int64_t lo, int64_t hi)
{
    if (want_type(ps, v, V_INT, what) < 0)
        return -1;
    if (v->i < lo || v->i > hi)
        return fail(ps, "%s must be between %lld and %lld", what, (long long)lo, (long long)hi);
    return 0;
}

/* 2*n hexadecimal digits (either case) into n bytes. */
static int hex_bytes(const char *s, size_t digits, uint8_t *out)
{
    for (size_t i = 0; i < digits; i++) {
        char c = s[i];
        int v;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
        else return -1;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(v << 4);
        else
            out[i / 2] |= (uint8_t)v;
    }
    return 0;
}

static int handle_scalar(parser *ps, int slot, int cpu, const key *k, scalar *v)
{
    gsc_manifest *m = ps->m;
    static const char *const levels[] = { "error", "warning", "debug", "trace" };
    static const char *const policies[] = { "strict", "allow_all_but_log" };
    static const char *const cpu3[] = { "unspecified", "required", "disabled" };
    static const char *const cpu2[] = { "required", "disabled" };
    static const char *const ra[] = { "none", "epid", "dcap" };
    static const char *const verify[] = { "on_first_use", "at_launch" };
    int r;
    switch (slot) {
    case S_IGNORED:
        return 0;
    case S_ENTRYPOINT:
        if (want_path(ps, v, "libos.entrypoint") < 0)
            return -1;
        m->entrypoint = take(v);
        ps->seen_entrypoint = 1;
        return 0;
    case S_ARGV_SRC: {
        const char *path = want_file_uri(ps, v, "loader.argv_src_file");
        if (!path)
            return -1;
        if (!(m->argv_src_file = dup_str(path)))
            return fail_nomem(ps);
        ps->argv_src_line = ps->line;
        return 0;
    }
    case S_USE_CMDLINE:
        if (want_type(ps, v, V_BOOL, "loader.insecure__use_cmdline_argv") < 0)
            return -1;
        m->use_cmdline_argv = (int)v->i;
        if (v->i)
            ps->cmdline_line = ps->line;
        return 0;
    case S_ENV: case S_ENV_VALUE: case S_ENV_PASSTHROUGH: {
        const segment *name = &k->seg[2];
        if (name->len == 0 || memchr(name->buf, '=', name->len))
            return fail(ps, "loader.env: invalid environment variable name");
        if (m->nenv && strcmp(m->env[m->nenv - 1].name, name->buf) == 0)
            return fail(ps, "loader.env.%.200s: must be { value = \"...\" } or "
                            "{ passthrough = true }", name->buf);
        if (slot == S_ENV_PASSTHROUGH) {
            if (want_type(ps, v, V_BOOL, "loader.env.NAME.passthrough") < 0)
                return -1;
            if (!v->i)
                return fail(ps, "loader.env.%.200s.passthrough must be true", name->buf);
        } else if (want_type(ps, v, V_STR, "loader.env value") < 0) {
            return -1;
        }
        if (grow((void **)&m->env, &ps->cap_env, m->nenv + 1, sizeof *m->env) < 0)
            return fail_nomem(ps);
        gsc_env_entry *e = &m->env[m->nenv];
        memset(e, 0, sizeof *e);
        if (!(e->name = dup_str(name->buf)))
            return fail_nomem(ps);
        m->nenv++;
        if (slot == S_ENV_PASSTHROUGH)
            e->passthrough = 1;
        else
            e->value = take(v);
        return 0;
    }
    case S_HOST_ENV:
        if (want_type(ps, v, V_BOOL, "loader.insecure__use_host_env") < 0)
            return -1;
        m->use_host_env = (int)v->i;
        return 0;
    case S_LOG_LEVEL:
        if ((r = want_choice(ps, v, "loader.log_level", levels, 4)) < 0)
            return -1;
        m->log_level = r;
        return 0;
    case S_START_DIR:
        if (want_path(ps, v, "fs.start_dir") < 0)
            return -1;
        m->start_dir = take(v);
        return 0;
    case S_ENCLAVE_SIZE: {
        if (want_type(ps, v, V_STR, "sgx.enclave_size") < 0)
            return -1;
        uint64_t size;
        if (gsc_parse_enclave_size(v->s, &size) != GSC_OK)
            return fail(ps, "sgx.enclave_size: not a power of two written as digits with "
                            "optional K/M/G");
        m->params.enclave_size = size;
        m->has_enclave_size = 1;
        return 0;
    }
    case S_MAX_THREADS:
        if (want_int(ps, v, "sgx.max_threads", 1, 4096) < 0)
            return -1;
        m->params.max_threads = (uint32_t)v->i;
        return 0;
    case S_EDMM:
        if (want_type(ps, v, V_BOOL, "sgx.edmm_enable") < 0)
            return -1;
        m->params.edmm_enable = (int)v->i;
        return 0;
    case S_DEBUG:
        if (want_type(ps, v, V_BOOL, "sgx.debug") < 0)
            return -1;
        m->debug = (int)v->i;
        return 0;
    case S_EXINFO:
        if (want_type(ps, v, V_BOOL, "sgx.use_exinfo") < 0)
            return -1;
        m->use_exinfo = (int)v->i;
        return 0;
    case S_ISVPRODID:
        if (want_int(ps, v, "sgx.isvprodid", 0, 65535) < 0)
            return -1;
        m->isvprodid = (uint16_t)v->i;
        return 0;
    case S_ISVSVN:
        if (want_int(ps, v, "sgx.isvsvn", 0, 65535) < 0)
            return -1;
        m->isvsvn = (uint16_t)v->i;
        return 0;
    case S_CPU:
        if (cpu <= GSC_CPU_AMX)
            r = want_choice(ps, v, "sgx.cpu_features value", cpu3, 3);
        else if ((r = want_choice(ps, v, "sgx.cpu_features value", cpu2, 2)) >= 0)
            r += 1;
        if (r < 0)
            return -1;
        m->cpu_features[cpu] = r;
        return 0;
    case S_FILE_CHECK_POLICY:
        if ((r = want_choice(ps, v, "sgx.file_check_policy", policies, 2)) < 0)
            return -1;
        m->allow_all_but_log = r;
        return 0;
    case S_REMOTE_ATTESTATION:
        /* Gramine's values; older Gramine manifests used a boolean. */
        if (v->type == V_BOOL) {
            m->remote_attestation = v->i ? GSC_RA_DCAP : GSC_RA_NONE;
            return 0;
        }
        if ((r = want_choice(ps, v, "sgx.remote_attestation", ra, 3)) < 0)
            return -1;
        m->remote_attestation = r;
        return 0;
    case S_VERIFY_TRUSTED:
        if ((r = want_choice(ps, v, "gsc.verify_trusted_files", verify, 2)) < 0)
            return -1;
        m->verify_at_launch = r;
        return 0;
    case S_NO_LANDLOCK:
        if (want_type(ps, v, V_BOOL, "gsc.insecure__allow_no_landlock") < 0)
            return -1;
        m->allow_no_landlock = (int)v->i;
        return 0;
    case S_CONTAINER_CONFIG:
        /* Compared with the image by `gsc verify-image`; the runtime cannot see the
         * image's config, it only checks the type. */
        if (want_type(ps, v, V_STR, "gsc.container_config") < 0)
            return -1;
        m->has_container_config = 1;
        return 0;
    case S_ALLOW_MANIFEST_KEYS:
        if (want_type(ps, v, V_BOOL, "gsc.insecure__allow_manifest_keys") < 0)
            return -1;
        m->allow_manifest_keys = (int)v->i;
        return 0;
    case S_INSECURE_KEY: {
        const segment *name = &k->seg[2];
        if (!gsc_key_name_ok(name->buf, name->len))
            return fail(ps, "fs.insecure__keys: invalid key name (1 to %u of A-Z a-z 0-9 _ -, "
                            "not starting with _)", GSC_KEY_NAME_MAX);
        if (want_type(ps, v, V_STR, "fs.insecure__keys value") < 0)
            return -1;
        uint8_t key[16];
        if (v->slen != 32 || hex_bytes(v->s, 32, key) < 0)
            return fail(ps, "fs.insecure__keys.%.64s: must be 32 hexadecimal digits", name->buf);
        if (grow((void **)&m->insecure_keys, &ps->cap_insecure_keys, m->ninsecure_keys + 1,
                 sizeof *m->insecure_keys) < 0)
            return fail_nomem(ps);
        gsc_manifest_key *e = &m->insecure_keys[m->ninsecure_keys];
        if (!(e->name = dup_str(name->buf)))
            return fail_nomem(ps);
        memcpy(e->key, key, 16);
        m->ninsecure_keys++;
        ps->keys_line = ps->line;
        return 0;
    }
    case S_KEY_FILE: {
        const segment *name = &k->seg[2];
        if (!gsc_key_name_ok(name->buf, name->len))
            return fail(ps, "gsc.encrypted_key_files: invalid key name (1 to %u of A-Z a-z 0-9 "
                            "_ -, not starting with _)", GSC_KEY_NAME_MAX);
        if (want_path(ps, v, "gsc.encrypted_key_files value") < 0)
            return -1;
        if (grow((void **)&m->key_files, &ps->cap_key_files, m->nkey_files + 1,
                 sizeof *m->key_files) < 0)
            return fail_nomem(ps);
        gsc_key_file *e = &m->key_files[m->nkey_files];
        if (!(e->name = dup_str(name->buf)))
            return fail_nomem(ps);
        e->path = take(v);
        m->nkey_files++;
        return 0;
    }
    case S_ARGV: case S_MOUNTS: case S_TRUSTED: case S_ALLOWED: case S_SYMLINKS:
    case S_READONLY: case S_EXECUTABLES:
        return fail(ps, "value must be an array");
    }
    return fail(ps, "internal error: unknown slot");
}

/* Value of a lowercase hexadecimal digit; 0xff: not one. Without branches on the data:
 * every trusted file has a digest (6,000 files: 390,000 digits, the largest part of
 * parsing them). */
static inline uint8_t lower_hex(unsigned char c)
{
    unsigned d = (unsigned)c - '0', l = (unsigned)c - 'a';
    return (uint8_t)(d < 10 ? d : l < 6 ? l + 10 : 0xff);
}

static int hex_digest(const char *s, size_t len, uint8_t out[32])
{
    if (len != 64)
        return -1;
    unsigned bad = 0;
    for (size_t i = 0; i < 32; i++) {
        uint8_t hi = lower_hex((unsigned char)s[2 * i]);
        uint8_t lo = lower_hex((unsigned char)s[2 * i + 1]);
        bad |= (unsigned)(hi | lo) & 0x80u;
        out[i] = (uint8_t)((hi << 4) | (lo & 0x0f));
    }
    return bad ? -1 : 0;
}

static pair *table_get(table *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->pairs[i].key, name) == 0 && t->pairs[i].keylen == strlen(name))
            return &t->pairs[i];
    return NULL;
}

static int table_only(parser *ps, const table *t, const char *what, const char *const *names,
                      size_t nnames)
{
    for (size_t i = 0; i < t->n; i++) {
        size_t j;
        for (j = 0; j < nnames; j++)
            if (strcmp(t->pairs[i].key, names[j]) == 0 && t->pairs[i].keylen == strlen(names[j]))
                break;
        if (j == nnames)
            return fail(ps, "%s: unknown key \"%.200s\"", what, t->pairs[i].key);
    }
    return 0;
}

/* One array element: exactly one of (v, t) is meaningful (t->n > 0 for a table). */

/* One "file:" URI element of a sorted, unique path array (sgx.allowed_files,
 * gsc.readonly_files). */
static int path_element(parser *ps, scalar *v, int is_table, const char *name, char ***arr,
                        size_t *n, size_t *cap)
{
    if (is_table)
        return fail(ps, "%s elements must be strings", name);
    char what[64];
    snprintf(what, sizeof what, "%s element", name);
    const char *path = want_file_uri(ps, v, what);
    if (!path)
        return -1;
    if (*n) {
        int r = strcmp((*arr)[*n - 1], path);
        if (r == 0)
            return fail(ps, "%s: path listed twice", name);
        if (r > 0)
            return fail(ps, "%s: entries must be sorted by path", name);
    }
    if (grow((void **)arr, cap, *n + 1, sizeof **arr) < 0)
        return fail_nomem(ps);
    if (!((*arr)[*n] = dup_str(path)))
        return fail_nomem(ps);
    (*n)++;
    return 0;
}

static int handle_element(parser *ps, int slot, scalar *v, table *t, int is_table)
{
    gsc_manifest *m = ps->m;
    switch (slot) {
    case S_IGNORED:
        return 0;
    case S_ARGV:
        if (is_table)
            return fail(ps, "loader.argv elements must be strings");
        if (want_type(ps, v, V_STR, "loader.argv element") < 0)
            return -1;
        if (grow((void **)&m->argv, &ps->cap_argv, m->argc + 2, sizeof *m->argv) < 0)
            return fail_nomem(ps);
        m->argv[m->argc++] = take(v);
        m->argv[m->argc] = NULL;
        return 0;
    case S_ALLOWED:
        return path_element(ps, v, is_table, "sgx.allowed_files", &m->allowed, &m->nallowed,
                            &ps->cap_allowed);
    case S_READONLY:
        return path_element(ps, v, is_table, "gsc.readonly_files", &m->readonly,
                            &m->nreadonly, &ps->cap_readonly);
    case S_EXECUTABLES:
        return path_element(ps, v, is_table, "gsc.executables", &m->executables,
                            &m->nexecutables, &ps->cap_executables);
    case S_TRUSTED: {
        static const char *const names[] = { "sha256", "uri" };
        if (!is_table)
            return fail(ps, "sgx.trusted_files elements must be { sha256 = ..., uri = ... }");
        if (table_only(ps, t, "sgx.trusted_files", names, 2) < 0)
            return -1;
        pair *h = table_get(t, "sha256"), *u = table_get(t, "uri");
        if (!h || !u)
            return fail(ps, "sgx.trusted_files: sha256 and uri are required");
        const char *path = want_file_uri(ps, &u->val, "sgx.trusted_files uri");
        if (!path)
            return -1;
        uint8_t digest[32];
        if (want_type(ps, &h->val, V_STR, "sgx.trusted_files sha256") < 0)
            return -1;
        if (hex_digest(h->val.s, h->val.slen, digest) < 0)
            return fail(ps, "sgx.trusted_files: sha256 must be 64 lowercase hexadecimal digits");
        if (m->ntrusted) {
            int r = strcmp(m->trusted[m->ntrusted - 1].path, path);
            if (r == 0)
                return fail(ps, "sgx.trusted_files: path listed twice");
            if (r > 0)
                return fail(ps, "sgx.trusted_files: entries must be sorted by path");
        }
        if (grow((void **)&m->trusted, &ps->cap_trusted, m->ntrusted + 1, sizeof *m->trusted) < 0)
            return fail_nomem(ps);
        gsc_trusted_file *tf = &m->trusted[m->ntrusted];
        if (!(tf->path = dup_str(path)))
            return fail_nomem(ps);
        memcpy(tf->sha256, digest, 32);
        m->ntrusted++;
        return 0;
    }
    case S_SYMLINKS: {
        static const char *const names[] = { "path", "target" };
        if (!is_table)
            return fail(ps, "gsc.symlinks elements must be { path = ..., target = ... }");
        if (table_only(ps, t, "gsc.symlinks", names, 2) < 0)
            return -1;
        pair *pp = table_get(t, "path"), *tg = table_get(t, "target");
        if (!pp || !tg)
            return fail(ps, "gsc.symlinks: path and target are required");
        if (want_path(ps, &pp->val, "gsc.symlinks path") < 0)
            return -1;
        if (pp->val.slen == 1)
            return fail(ps, "gsc.symlinks: / cannot be a symlink");
        if (want_type(ps, &tg->val, V_STR, "gsc.symlinks target") < 0)
            return -1;
        if (tg->val.slen == 0 || tg->val.slen > GSC_MANIFEST_MAX_PATH)
            return fail(ps, "gsc.symlinks: target must be 1 to %u bytes", GSC_MANIFEST_MAX_PATH);
        if (m->nsymlinks) {
            int r = strcmp(m->symlinks[m->nsymlinks - 1].path, pp->val.s);
            if (r == 0)
                return fail(ps, "gsc.symlinks: path listed twice");
            if (r > 0)
                return fail(ps, "gsc.symlinks: entries must be sorted by path");
        }
        if (grow((void **)&m->symlinks, &ps->cap_symlinks, m->nsymlinks + 1,
                 sizeof *m->symlinks) < 0)
            return fail_nomem(ps);
        gsc_symlink *sl = &m->symlinks[m->nsymlinks];
        sl->path = take(&pp->val);
        sl->target = take(&tg->val);
        m->nsymlinks++;
        return 0;
    }
    case S_MOUNTS: {
        static const char *const names[] = { "path", "type", "uri", "key_name" };
        if (!is_table)
            return fail(ps, "fs.mounts elements must be tables");
        if (table_only(ps, t, "fs.mounts", names, 4) < 0)
            return -1;
        pair *pp = table_get(t, "path"), *ty = table_get(t, "type"), *u = table_get(t, "uri");
        pair *kn = table_get(t, "key_name");
        if (!pp)
            return fail(ps, "fs.mounts: path is required");
        if (want_path(ps, &pp->val, "fs.mounts path") < 0)
            return -1;
        int tmpfs = 0, encrypted = 0;
        if (ty) {
            if (want_type(ps, &ty->val, V_STR, "fs.mounts type") < 0)
                return -1;
            if (strcmp(ty->val.s, "encrypted") == 0 && ty->val.slen == 9)
                encrypted = 1;
            else if (strcmp(ty->val.s, "tmpfs") == 0 && ty->val.slen == 5)
                tmpfs = 1;
            else if (!(strcmp(ty->val.s, "chroot") == 0 && ty->val.slen == 6))
                return fail(ps, "fs.mounts: unknown mount type");
        }
        if (tmpfs) {
            if (u)
                return fail(ps, "fs.mounts: a tmpfs mount takes no uri");
        } else {
            if (!u)
                return fail(ps, "fs.mounts: uri is required for a %s mount",
                            encrypted ? "encrypted" : "chroot");
            if (want_type(ps, &u->val, V_STR, "fs.mounts uri") < 0)
                return -1;
            if (u->val.slen != pp->val.slen + 5 || memcmp(u->val.s, "file:", 5) != 0 ||
                memcmp(u->val.s + 5, pp->val.s, pp->val.slen) != 0)
                return fail(ps, "fs.mounts: native mode only supports identity mounts "
                                "(uri = \"file:\" + path)");
        }
        if (kn && !encrypted)
            return fail(ps, "fs.mounts: key_name is only for encrypted mounts");
        if (kn && (want_type(ps, &kn->val, V_STR, "fs.mounts key_name") < 0 ||
                   !gsc_key_name_ok(kn->val.s, kn->val.slen)))
            return fail(ps, "fs.mounts: invalid key_name (1 to %u of A-Z a-z 0-9 _ -, not "
                            "starting with _: Gramine's _sgx_* keys need SGX)",
                        GSC_KEY_NAME_MAX);
        if (encrypted) {
            if (strcmp(pp->val.s, "/") == 0)
                return fail(ps, "fs.mounts: an encrypted mount cannot be /");
            if (grow((void **)&m->encrypted, &ps->cap_encrypted, m->nencrypted + 1,
                     sizeof *m->encrypted) < 0)
                return fail_nomem(ps);
            gsc_encrypted_mount *em = &m->encrypted[m->nencrypted];
            em->path = dup_str(pp->val.s);
            em->key_name = dup_str(kn ? kn->val.s : "default");
            m->nencrypted++;
            if (!em->path || !em->key_name)
                return fail_nomem(ps);
        }
        if (grow((void **)&ps->mount_paths, &ps->cap_mount_paths, ps->nmount_paths + 1,
                 sizeof *ps->mount_paths) < 0)
            return fail_nomem(ps);
        if (!(ps->mount_paths[ps->nmount_paths] = dup_str(pp->val.s)))
            return fail_nomem(ps);
        ps->nmount_paths++;
        if (tmpfs) {
            if (grow((void **)&m->tmpfs, &ps->cap_tmpfs, m->ntmpfs + 1, sizeof *m->tmpfs) < 0)
                return fail_nomem(ps);
            if (!(m->tmpfs[m->ntmpfs] = dup_str(pp->val.s)))
                return fail_nomem(ps);
            m->ntmpfs++;
        }
        return 0;
    }
    }
    return fail(ps, "value must not be an array");
}

/* ---- lines ------------------------------------------------------------------------- */

static int next_line(parser *ps)
{
    if (ps->le && ps->le < ps->end)
        ps->p = ps->le + 1;
    else if (!ps->le)
        ps->p = ps->data;
    if (ps->p >= ps->end)
        return 0;
    ps->line++;
    const char *nl = memchr(ps->p, '\n', (size_t)(ps->end - ps->p));
    if (!nl)
        return fail(ps, "manifest does not end with a newline");
    ps->le = nl;
    for (const char *q = ps->p; q < nl; q++) {
        if (*q == '\r')
            return fail(ps, "carriage return (CRLF line endings are not canonical)");
        if (*q == '\t')
            return fail(ps, "tab character");
        if (*q == '\0')
            return fail(ps, "NUL byte");
    }
    if (nl == ps->p)
        return fail(ps, "blank line");
    if (nl[-1] == ' ')
        return fail(ps, "trailing space");
    return 1;
}

static int at_eol(parser *ps) { return ps->p == ps->le; }

static int parse_array(parser *ps, int slot)
{
    size_t count = 0;
    for (;;) {
        int r = next_line(ps);
        if (r < 0)
            return -1;
        if (r == 0)
            return fail(ps, "unterminated array");
        if (expect(ps, "]") == 0) {
            if (!at_eol(ps))
                return fail(ps, "expected end of line after \"]\"");
            if (!count)
                return fail(ps, "an empty array must be written []");
            return 0;
        }
        if (expect(ps, "  ") < 0)
            return fail(ps, "array elements must be indented by two spaces");
        scalar v;
        table t = { 0 };
        int is_table = ps->p < ps->le && *ps->p == '{';
        memset(&v, 0, sizeof v);
        r = is_table ? parse_table(ps, &t) : parse_scalar(ps, &v);
        if (r == 0 && (expect(ps, ",") < 0 || !at_eol(ps)))
            r = fail(ps, "expected \",\" at the end of an array element");
        if (r == 0)
            r = handle_element(ps, slot, &v, &t, is_table);
        scalar_free(&v);
        table_free(&t);
        if (r < 0)
            return -1;
        count++;
    }
}

static int key_order(parser *ps, const key *k)
{
    if (!ps->have_prev)
        return 0;
    const key *p = &ps->prev;
    size_t n = p->n < k->n ? p->n : k->n;
    for (size_t i = 0; i < n; i++) {
        int r = bytes_cmp(p->seg[i].buf, p->seg[i].len, k->seg[i].buf, k->seg[i].len);
        if (r < 0)
            return 0;
        if (r > 0)
            return fail(ps, "keys are not sorted");
    }
    if (p->n == k->n)
        return fail(ps, "duplicate key");
    if (p->n < k->n)
        return fail(ps, "key extends a key that already has a value");
    return fail(ps, "keys are not sorted");
}

static int parse_line(parser *ps)
{
    key k;
    k.n = 0;
    int r = parse_key(ps, &k);
    if (r == 0)
        r = key_order(ps, &k);
    int cpu = 0, slot = -1;
    if (r == 0) {
        slot = classify_key(&k, &cpu);
        if (slot < 0) {
            char name[256];
            key_text(&k, name, sizeof name);
            r = fail(ps, "unknown key \"%s\"", name);
        }
    }
    if (r == 0 && expect(ps, " = ") < 0)
        r = fail(ps, "expected \" = \" after the key");
    if (r == 0) {
        if (ps->p < ps->le && *ps->p == '[') {
            ps->p++;
            if (expect(ps, "]") == 0) {
                if (!at_eol(ps))
                    r = fail(ps, "expected end of line");
                else if (slot != S_IGNORED && slot != S_ARGV && slot != S_MOUNTS &&
                         slot != S_TRUSTED && slot != S_ALLOWED && slot != S_SYMLINKS &&
                    slot != S_READONLY && slot != S_EXECUTABLES)
                    r = fail(ps, "value must not be an array");
                else if (slot == S_ARGV)
                    r = fail(ps, "loader.argv must not be empty");
            } else if (!at_eol(ps)) {
                r = fail(ps, "arrays are written one element per line");
            } else {
                if (slot == S_ARGV)
                    ps->argv_line = ps->line;
                if (slot == S_MOUNTS)
                    ps->mounts_line = ps->line;
                if (slot == S_SYMLINKS)
                    ps->symlinks_line = ps->line;
                if (slot == S_EXECUTABLES)
                    ps->executables_line = ps->line;
                if (slot != S_IGNORED && slot != S_ARGV && slot != S_MOUNTS &&
                    slot != S_TRUSTED && slot != S_ALLOWED && slot != S_SYMLINKS &&
                    slot != S_READONLY && slot != S_EXECUTABLES)
                    r = fail(ps, "value must not be an array");
                else
                    r = parse_array(ps, slot);
            }
            if (r == 0 && slot == S_ARGV)
                ps->m->has_argv = 1;
            if (r == 0 && slot == S_EXECUTABLES)
                ps->m->has_executables = 1;
        } else {
            scalar v;
            r = parse_scalar(ps, &v);
            if (r == 0 && !at_eol(ps))
                r = fail(ps, "expected end of line after the value");
            if (r == 0)
                r = handle_scalar(ps, slot, cpu, &k, &v);
            scalar_free(&v);
        }
    }
    if (ps->have_prev)
        key_free(&ps->prev);
    ps->prev = k;
    ps->have_prev = 1;
    return r;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_trusted_path(const void *wanted, const void *elem)
{
    return strcmp((const char *)wanted, ((const gsc_trusted_file *)elem)->path);
}

static int check_encrypted(parser *ps);

static int finish(parser *ps)
{
    gsc_manifest *m = ps->m;
    size_t last = ps->line;
    if (!ps->seen_entrypoint) {
        ps->line = last + 1;
        return fail(ps, "end of manifest: libos.entrypoint is required");
    }
    /* argument sources are mutually exclusive (keys are sorted: argv < argv_src_file <
     * insecure__use_cmdline_argv) */
    size_t lines[3] = { m->has_argv ? ps->argv_line : 0, m->argv_src_file ? ps->argv_src_line : 0,
                        m->use_cmdline_argv ? ps->cmdline_line : 0 };
    const char *names[3] = { "loader.argv", "loader.argv_src_file",
                             "loader.insecure__use_cmdline_argv" };
    int first = -1;
    for (int i = 0; i < 3; i++) {
        if (!lines[i])
            continue;
        if (first >= 0) {
            ps->line = lines[i];
            return fail(ps, "%s: mutually exclusive with %s", names[i], names[first]);
        }
        first = i;
    }
    if (m->argv_src_file && (!m->ntrusted ||
        !bsearch(m->argv_src_file, m->trusted, m->ntrusted, sizeof *m->trusted, cmp_trusted_path))) {
        ps->line = ps->argv_src_line;
        return fail(ps, "loader.argv_src_file: not listed in sgx.trusted_files");
    }
    /* Every gsc.executables entry is a trusted file (both lists sorted: one merge). */
    for (size_t i = 0, j = 0; i < m->nexecutables; i++) {
        while (j < m->ntrusted && strcmp(m->trusted[j].path, m->executables[i]) < 0)
            j++;
        if (j == m->ntrusted || strcmp(m->trusted[j].path, m->executables[i]) != 0) {
            ps->line = ps->executables_line;
            return fail(ps, "gsc.executables: %.200s is not listed in sgx.trusted_files",
                        m->executables[i]);
        }
    }
    /* A pinned symlink is neither a trusted file nor a directory above one (trusted paths
     * are canonical: no symlink on the way). Both lists are sorted: the trusted entries
     * at or after the symlink's path decide. */
    for (size_t i = 0; i < m->nsymlinks; i++) {
        const char *sp = m->symlinks[i].path;
        size_t sl = strlen(sp);
        size_t lo = 0, hi = m->ntrusted;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(m->trusted[mid].path, sp) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        int clash = 0;
        if (lo < m->ntrusted && strcmp(m->trusted[lo].path, sp) == 0)
            clash = 1;
        /* descendants "sp/..." sort after sp but maybe after "sp!..." too: search "sp/" */
        char *pre = malloc(sl + 2);
        if (!pre)
            return fail_nomem(ps);
        memcpy(pre, sp, sl);
        pre[sl] = '/';
        pre[sl + 1] = '\0';
        lo = 0, hi = m->ntrusted;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(m->trusted[mid].path, pre) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < m->ntrusted && strncmp(m->trusted[lo].path, pre, sl + 1) == 0)
            clash = 1;
        free(pre);
        if (clash) {
            ps->line = ps->symlinks_line;
            return fail(ps, "gsc.symlinks: %.200s is a trusted file or above one", sp);
        }
    }
    if (ps->nmount_paths) {
        qsort(ps->mount_paths, ps->nmount_paths, sizeof *ps->mount_paths, cmp_str_ptr);
        for (size_t i = 1; i < ps->nmount_paths; i++)
            if (strcmp(ps->mount_paths[i - 1], ps->mount_paths[i]) == 0) {
                ps->line = ps->mounts_line;
                return fail(ps, "fs.mounts: a path is mounted twice");
            }
    }
    if (m->ntmpfs)
        qsort(m->tmpfs, m->ntmpfs, sizeof *m->tmpfs, cmp_str_ptr);
    if (check_encrypted(ps) < 0)
        return -1;
    if (!m->has_enclave_size)
        m->params.enclave_size = m->params.edmm_enable ? (1024ull << 30) : (256ull << 20);
    return 0;
}

/* path equals base or lies beneath it. */
static int under(const char *path, const char *base)
{
    size_t n = strlen(base);
    if (strcmp(base, "/") == 0)
        return 1;
    return strncmp(path, base, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int cmp_encrypted(const void *a, const void *b)
{
    return strcmp(((const gsc_encrypted_mount *)a)->path, ((const gsc_encrypted_mount *)b)->path);
}

/* Encrypted mounts are read-only and never trusted (docs/encrypted-files.md, "Run time"):
 * no trusted file below one; no allowed path or tmpfs mount below or above one (the app
 * could write there, and native mode cannot store what it writes encrypted); keys in the
 * manifest only for debug enclaves unless explicitly allowed. */
static int check_encrypted(parser *ps)
{
    gsc_manifest *m = ps->m;
    if (m->nencrypted)
        qsort(m->encrypted, m->nencrypted, sizeof *m->encrypted, cmp_encrypted);
    for (size_t i = 0; i < m->nencrypted; i++) {
        const char *e = m->encrypted[i].path;
        ps->line = ps->mounts_line;
        for (size_t j = 0; j < m->ntrusted; j++)
            if (under(m->trusted[j].path, e))
                return fail(ps, "fs.mounts: %.200s is a trusted file in the encrypted mount "
                                "%.200s (encrypted files are never trusted files)",
                            m->trusted[j].path, e);
        for (size_t j = 0; j < m->nallowed + m->ntmpfs; j++) {
            const char *a = j < m->nallowed ? m->allowed[j] : m->tmpfs[j - m->nallowed];
            if (under(a, e) || under(e, a))
                return fail(ps, "fs.mounts: the encrypted mount %.200s overlaps the writable "
                                "path %.200s: native mode cannot store files the app writes "
                                "encrypted, so encrypted mounts must stay read-only", e, a);
        }
        for (size_t j = 0; j < i; j++)
            if (under(e, m->encrypted[j].path))
                return fail(ps, "fs.mounts: encrypted mount %.200s lies in encrypted mount "
                                "%.200s", e, m->encrypted[j].path);
    }
    if (m->ninsecure_keys && !m->debug && !m->allow_manifest_keys) {
        ps->line = ps->keys_line;
        return fail(ps, "fs.insecure__keys: keys in the manifest are readable by anyone who has "
                        "the image; refused for a non-debug enclave unless "
                        "gsc.insecure__allow_manifest_keys = true");
    }
    return 0;
}

int gsc_key_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > GSC_KEY_NAME_MAX || name[0] == '_' || strlen(name) != len)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int gsc_manifest_parse(const char *data, size_t len, gsc_manifest *out, char *err, size_t errlen)
{
    parser ps;
    memset(&ps, 0, sizeof ps);
    ps.err = err;
    ps.errlen = errlen;
    if (err && errlen)
        err[0] = '\0';
    if (!out)
        return -1;
    memset(out, 0, sizeof *out);
    ps.m = out;
    out->params.max_threads = 4;
    out->cpu_features[GSC_CPU_MPX] = GSC_CPU_DISABLED;
    out->cpu_features[GSC_CPU_PKRU] = GSC_CPU_DISABLED;
    if (!data) {
        ps.line = 1;
        return fail(&ps, "no manifest data");
    }
    if (len > GSC_MANIFEST_MAX_BYTES) {
        ps.line = 1;
        return fail(&ps, "manifest larger than %u bytes", GSC_MANIFEST_MAX_BYTES);
    }
    ps.data = data;
    ps.end = data + len;
    int r = next_line(&ps);
    if (r == 0) {
        ps.line = 1;
        r = fail(&ps, "empty manifest");
    }
    if (r > 0 && ((size_t)(ps.le - ps.p) != strlen(HEADER) || memcmp(ps.p, HEADER, strlen(HEADER))))
        r = fail(&ps, "first line must be \"" HEADER "\"");
    while (r > 0) {
        r = next_line(&ps);
        if (r > 0)
            r = parse_line(&ps) < 0 ? -1 : 1;
    }
    if (r == 0)
        r = finish(&ps);
    if (ps.have_prev)
        key_free(&ps.prev);
    for (size_t i = 0; i < ps.nmount_paths; i++)
        free(ps.mount_paths[i]);
    free(ps.mount_paths);
    if (r < 0) {
        gsc_manifest_free(out);
        return -1;
    }
    return 0;
}

void gsc_manifest_free(gsc_manifest *m)
{
    if (!m)
        return;
    free(m->entrypoint);
    for (size_t i = 0; i < m->argc; i++)
        free(m->argv[i]);
    free(m->argv);
    free(m->argv_src_file);
    for (size_t i = 0; i < m->nenv; i++) {
        free(m->env[i].name);
        free(m->env[i].value);
    }
    free(m->env);
    free(m->start_dir);
    for (size_t i = 0; i < m->ntrusted; i++)
        free(m->trusted[i].path);
    free(m->trusted);
    for (size_t i = 0; i < m->nallowed; i++)
        free(m->allowed[i]);
    free(m->allowed);
    for (size_t i = 0; i < m->nreadonly; i++)
        free(m->readonly[i]);
    free(m->readonly);
    for (size_t i = 0; i < m->nexecutables; i++)
        free(m->executables[i]);
    free(m->executables);
    for (size_t i = 0; i < m->ntmpfs; i++)
        free(m->tmpfs[i]);
    free(m->tmpfs);
    for (size_t i = 0; i < m->nsymlinks; i++) {
        free(m->symlinks[i].path);
        free(m->symlinks[i].target);
    }
    free(m->symlinks);
    for (size_t i = 0; i < m->nencrypted; i++) {
        free(m->encrypted[i].path);
        free(m->encrypted[i].key_name);
    }
    free(m->encrypted);
    for (size_t i = 0; i < m->ninsecure_keys; i++)
        free(m->insecure_keys[i].name);
    if (m->insecure_keys)
        memset(m->insecure_keys, 0, m->ninsecure_keys * sizeof *m->insecure_keys);
    free(m->insecure_keys);
    for (size_t i = 0; i < m->nkey_files; i++) {
        free(m->key_files[i].name);
        free(m->key_files[i].path);
    }
    free(m->key_files);
    memset(m, 0, sizeof *m);
}

uint64_t gsc_manifest_enclave_size(const gsc_manifest *m) { return m->params.enclave_size; }
uint32_t gsc_manifest_max_threads(const gsc_manifest *m) { return m->params.max_threads; }
int gsc_manifest_edmm_enable(const gsc_manifest *m) { return m->params.edmm_enable; }
