"""Build glue: the cffi extension over runtime/core and the static runtime executable.

Everything is resolved relative to this file, so `pip install /path/to/gsc` works from any
directory. The runtime is built with `make -C runtime` and shipped as gsc/_bin/gsc-runtime.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithRuntime(build_py):
    """Build the native runtime and place it inside the package."""

    def run(self) -> None:
        super().run()
        make = shutil.which("make") or "make"
        subprocess.run([make, "-C", str(HERE / "runtime"), "runtime"], check=True)
        built = HERE / "runtime" / "build" / "gsc-runtime"
        dest = Path(self.build_lib) / "gsc" / "_bin"
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built, dest / "gsc-runtime")
        os.chmod(dest / "gsc-runtime", 0o755)  # noqa: S103 - an executable for every user


setup(
    cffi_modules=[str(Path("gsc") / "_native_build.py") + ":ffibuilder"],
    cmdclass={"build_py": BuildPyWithRuntime},
)
