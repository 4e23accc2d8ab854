/* Driver for the strict manifest parser and the path policy, built with ASan/UBSan by
 * tests/manifest. Usage:
 *   check_manifest MANIFEST [PATH...]   parse; print one JSON object describing the result,
 *                                       then one line "CLASS HAS_TRUSTED_UNDER \"PATH\""
 *                                       per path (normalised, JSON string)
 *   check_manifest --many FILE...       parse each; print "ok FILE" or "refused FILE: reason"
 * Exit status: 0 parsed (or --many finished), 1 refused, 2 usage or I/O error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "policy.h"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *nb = cap > (GSC_MANIFEST_MAX_BYTES + 1u) ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    *len = n;
    return buf;
}

static void json_str(const char *s)
{
    if (!s) {
        fputs("null", stdout);
        return;
    }
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void json_strs(char **v, size_t n)
{
    putchar('[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            putchar(',');
        json_str(v[i]);
    }
    putchar(']');
}

static void dump(const gsc_manifest *m)
{
    printf("{\"entrypoint\":");
    json_str(m->entrypoint);
    printf(",\"argv\":");
    if (m->has_argv)
        json_strs(m->argv, m->argc);
    else
        fputs("null", stdout);
    printf(",\"argv_src_file\":");
    json_str(m->argv_src_file);
    printf(",\"use_cmdline_argv\":%d,\"env\":[", m->use_cmdline_argv);
    for (size_t i = 0; i < m->nenv; i++) {
        printf("%s[", i ? "," : "");
        json_str(m->env[i].name);
        putchar(',');
        json_str(m->env[i].value);
        printf(",%d]", m->env[i].passthrough);
    }
    printf("],\"use_host_env\":%d,\"log_level\":%d,\"start_dir\":", m->use_host_env,
           m->log_level);
    json_str(m->start_dir);
    printf(",\"enclave_size\":%llu,\"max_threads\":%u,\"edmm_enable\":%d,\"debug\":%d,"
           "\"use_exinfo\":%d,\"isvprodid\":%u,\"isvsvn\":%u,\"cpu_features\":[%d,%d,%d,%d,%d],"
           "\"allow_all_but_log\":%d,\"trusted\":[",
           (unsigned long long)gsc_manifest_enclave_size(m), gsc_manifest_max_threads(m),
           gsc_manifest_edmm_enable(m), m->debug, m->use_exinfo, m->isvprodid, m->isvsvn,
           m->cpu_features[0], m->cpu_features[1], m->cpu_features[2], m->cpu_features[3],
           m->cpu_features[4], m->allow_all_but_log);
    for (size_t i = 0; i < m->ntrusted; i++) {
        printf("%s[", i ? "," : "");
        json_str(m->trusted[i].path);
        printf(",\"");
        for (int j = 0; j < 32; j++)
            printf("%02x", m->trusted[i].sha256[j]);
        printf("\"]");
    }
    printf("],\"allowed\":");
    json_strs(m->allowed, m->nallowed);
    printf(",\"tmpfs\":");
    json_strs(m->tmpfs, m->ntmpfs);
    printf(",\"symlinks\":[");
    for (size_t i = 0; i < m->nsymlinks; i++) {
        printf("%s[", i ? "," : "");
        json_str(m->symlinks[i].path);
        putchar(',');
        json_str(m->symlinks[i].target);
        putchar(']');
    }
    printf("],\"allow_no_landlock\":%d,\"has_container_config\":%d,\"readonly\":",
           m->allow_no_landlock, m->has_container_config);
    json_strs(m->readonly, m->nreadonly);
    printf(",\"executables\":");
    json_strs(m->executables, m->nexecutables);
    printf(",\"has_executables\":%s", m->has_executables ? "true" : "false");
    printf(",\"remote_attestation\":%d,\"verify_at_launch\":%s}\n", m->remote_attestation,
           m->verify_at_launch ? "true" : "false");
}

int main(int argc, char **argv)
{
    char err[512];
    if (argc >= 2 && strcmp(argv[1], "--many") == 0) {
        for (int i = 2; i < argc; i++) {
            size_t len;
            char *data = read_file(argv[i], &len);
            if (!data) {
                fprintf(stderr, "check_manifest: cannot read %s\n", argv[i]);
                return 2;
            }
            gsc_manifest m;
            if (gsc_manifest_parse(data, len, &m, err, sizeof err) == 0) {
                printf("ok %s\n", argv[i]);
                gsc_manifest_free(&m);
            } else {
                printf("refused %s: %s\n", argv[i], err);
            }
            free(data);
        }
        return 0;
    }
    if (argc < 2) {
        fprintf(stderr, "usage: check_manifest MANIFEST [PATH...] | --many FILE...\n");
        return 2;
    }
    size_t len;
    char *data = read_file(argv[1], &len);
    if (!data) {
        fprintf(stderr, "check_manifest: cannot read %s\n", argv[1]);
        return 2;
    }
    gsc_manifest m;
    int r = gsc_manifest_parse(data, len, &m, err, sizeof err);
    free(data);
    if (r != 0) {
        printf("refused: %s\n", err);
        return 1;
    }
    dump(&m);
    for (int i = 2; i < argc; i++) {
        char norm[GSC_MANIFEST_MAX_PATH + 1];
        if (gsc_path_normalise(argv[i], norm, sizeof norm) != 0) {
            printf("invalid %s\n", argv[i]);
            continue;
        }
        printf("%d %d ", (int)gsc_policy_classify(&m, norm, NULL),
               gsc_policy_has_trusted_under(&m, norm));
        json_str(norm);
        putchar('\n');
    }
    gsc_manifest_free(&m);
    return 0;
}
