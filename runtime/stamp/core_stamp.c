/* The C core's identity, compiled into the runtime and into gsc._native (issue 9).
 *
 * GSC_CORE_STAMP is defined by the build (runtime/Makefile, gsc/_native_build.py) as the
 * SHA-256, in hex, of the `sha256sum` listing of runtime/core/ *.c and *.h sorted by
 * name ("HEX  NAME\n" per file). gsc refuses to build or measure with a runtime whose
 * stamp differs from its own native module's (gsc/runtime_binary.py finds the marker
 * below in the runtime's bytes). This file is not part of the core it identifies. */
#ifndef GSC_CORE_STAMP
#error "GSC_CORE_STAMP must be defined by the build"
#endif

#define GSC_CORE_STAMP_MARKER "gsc-core-stamp:"

/* Kept in the stripped static runtime: a string in .rodata, referenced below. */
__attribute__((used)) const char gsc_core_stamp_text[] = GSC_CORE_STAMP_MARKER GSC_CORE_STAMP;

const char *gsc_core_stamp(void);
const char *gsc_core_stamp(void)
{
    return gsc_core_stamp_text + sizeof(GSC_CORE_STAMP_MARKER) - 1;
}
