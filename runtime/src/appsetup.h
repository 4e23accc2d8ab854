/* The application's argv, environment and working directory, from the manifest only
 * (unless its insecure__ options say otherwise). */
#ifndef GSC_RT_APPSETUP_H
#define GSC_RT_APPSETUP_H

#include "../core/manifest.h"

typedef struct {
    char **argv;   /* NULL-terminated */
    char **envp;   /* NULL-terminated */
} rt_app;

/* cmd_argc/cmd_argv: the runtime's own command line (argv[0] is the runtime). Exits 126
 * with "launch refused" on any conflict. */
void rt_app_setup(const gsc_manifest *m, int cmd_argc, char **cmd_argv, char **host_env,
                  rt_app *out);

#endif
