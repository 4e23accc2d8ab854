/* Generated from gsc/shield/layout.py (the one owner of the /gsc/ layout) by
   `python -m gsc.shield.layout > runtime/core/gsc_layout.h`. Do not edit:
   tests/pipeline/test_layout.py fails when this file and layout.py differ. */
#ifndef GSC_LAYOUT_H
#define GSC_LAYOUT_H

#define GSC_LAYOUT_DIR "/gsc"
#define GSC_LAYOUT_RUNTIME_NAME "gsc-runtime"
#define GSC_LAYOUT_MANIFEST_NAME "entrypoint.manifest.sgx"
#define GSC_LAYOUT_SIG_NAME "entrypoint.sig"
#define GSC_LAYOUT_RUNTIME_PATH "/gsc/gsc-runtime"
#define GSC_LAYOUT_MANIFEST_PATH "/gsc/entrypoint.manifest.sgx"
#define GSC_LAYOUT_SIG_PATH "/gsc/entrypoint.sig"

#endif
