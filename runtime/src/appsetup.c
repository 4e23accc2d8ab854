#include "appsetup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "trust.h"
#include "util.h"

#define MAX_ARGV_FILE ((size_t)1 << 20)

static char **argv_from_file(const gsc_manifest *m)
{
    int fd = rt_trust_open_path(m, m->argv_src_file);
    if (fd < 0)
        rt_refuse("loader.argv_src_file %s: %s", m->argv_src_file,
                  fd == -EACCES  ? "not a trusted file"
                  : fd == -EPERM ? "SHA-256 mismatch"
                                 : strerror(-fd));
    uint8_t *buf;
    size_t len;
    int r = rt_read_fd(fd, MAX_ARGV_FILE, &buf, &len);
    close(fd);
    if (r < 0)
        rt_refuse("loader.argv_src_file %s: %s", m->argv_src_file, strerror(-r));
    /* NUL-separated strings; a final NUL terminates the last one. */
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == 0)
            n++;
    if (len > 0 && buf[len - 1] != 0)
        n++;
    char **argv = rt_xcalloc(n + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < len && k < n;) {
        argv[k++] = rt_xstrdup((const char *)buf + i);
        i += strlen((const char *)buf + i) + 1;
    }
    argv[k] = NULL;
    free(buf);
    return argv;
}

static void build_argv(const gsc_manifest *m, int cmd_argc, char **cmd_argv, rt_app *out)
{
    int sources = (m->has_argv != 0) + (m->argv_src_file != NULL) + (m->use_cmdline_argv != 0);
    if (sources > 1)
        rt_refuse("loader.argv, loader.argv_src_file and loader.insecure__use_cmdline_argv "
                  "are mutually exclusive");
    if (!m->use_cmdline_argv && cmd_argc > 1)
        rt_refuse("command-line arguments given but the manifest does not allow them "
                  "(loader.insecure__use_cmdline_argv is not set)");
    char **argv;
    if (m->use_cmdline_argv) {
        /* Gramine's semantics: the command line after the runtime is the whole argv,
         * argv[0] included; the program run is still libos.entrypoint. gsc build puts the
         * image's original Entrypoint + Cmd there, so `docker run IMG ARGS` behaves as for
         * the original image. No arguments at all: argv is [entrypoint]. */
        argv = rt_xcalloc((size_t)(cmd_argc > 1 ? cmd_argc : 2), sizeof(char *));
        if (cmd_argc > 1) {
            for (int i = 1; i < cmd_argc; i++)
                argv[i - 1] = rt_xstrdup(cmd_argv[i]);
        } else {
            argv[0] = rt_xstrdup(m->entrypoint);
        }
    } else if (m->argv_src_file) {
        argv = argv_from_file(m);
    } else if (m->has_argv) {
        argv = rt_xcalloc(m->argc + 1, sizeof(char *));
        for (size_t i = 0; i < m->argc; i++)
            argv[i] = rt_xstrdup(m->argv[i]);
    } else {
        argv = rt_xcalloc(2, sizeof(char *));
        argv[0] = rt_xstrdup(m->entrypoint);
    }
    if (!argv[0]) {
        /* An empty argument list: give the program its own path as argv[0]. */
        free(argv);
        argv = rt_xcalloc(2, sizeof(char *));
        argv[0] = rt_xstrdup(m->entrypoint);
    }
    out->argv = argv;
}

static const char *host_value(char **host_env, const char *name)
{
    size_t nl = strlen(name);
    for (char **e = host_env; e && *e; e++)
        if (strncmp(*e, name, nl) == 0 && (*e)[nl] == '=')
            return *e + nl + 1;
    return NULL;
}

static void build_env(const gsc_manifest *m, char **host_env, rt_app *out)
{
    size_t nhost = 0;
    if (m->use_host_env)
        for (char **e = host_env; e && *e; e++)
            nhost++;
    char **envp = rt_xcalloc(nhost + m->nenv + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < m->nenv; i++) {
        const gsc_env_entry *v = &m->env[i];
        const char *val = v->passthrough ? host_value(host_env, v->name) : v->value;
        if (!val)
            continue; /* passthrough of an unset variable: leave it unset */
        size_t len = strlen(v->name) + 1 + strlen(val) + 1;
        char *s = rt_xmalloc(len);
        memcpy(s, v->name, strlen(v->name));
        s[strlen(v->name)] = '=';
        memcpy(s + strlen(v->name) + 1, val, strlen(val) + 1);
        envp[k++] = s;
    }
    if (m->use_host_env) {
        /* Host variables, except those the manifest sets itself. */
        for (char **e = host_env; e && *e; e++) {
            const char *eq = strchr(*e, '=');
            if (!eq)
                continue;
            int dup = 0;
            for (size_t i = 0; i < m->nenv && !dup; i++)
                dup = strlen(m->env[i].name) == (size_t)(eq - *e) &&
                      strncmp(m->env[i].name, *e, (size_t)(eq - *e)) == 0;
            if (!dup)
                envp[k++] = rt_xstrdup(*e);
        }
    }
    envp[k] = NULL;
    out->envp = envp;
}

void rt_app_setup(const gsc_manifest *m, int cmd_argc, char **cmd_argv, char **host_env,
                  rt_app *out)
{
    if (!m->entrypoint || m->entrypoint[0] != '/')
        rt_refuse("libos.entrypoint must be an absolute path");
    build_argv(m, cmd_argc, cmd_argv, out);
    build_env(m, host_env, out);
}
