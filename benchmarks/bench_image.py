"""Benchmark: gsc's read + hash of an image's file system vs `docker save IMAGE | sha256sum`
on the same image in the same run.

    python benchmarks/bench_image.py [--repeat N] [--skip-synthetic] [--retain-all] [IMAGE ...]

gsc keeps only the contents it can read back (as `gsc inspect` / `gsc build` do);
--retain-all keeps every file's contents in the store (`load_image(retain="all")`).

Default images: the Debian+python3 test image (gsc-test/pyapp) and a synthetic image of
about 1 GiB in 20,000 random files (gsc-bench/synthetic:latest, built once with
`docker import` from a generated tar stream and reused)."""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tarfile
import time
from pathlib import Path

# After site-packages: the installed gsc (its native core is built) comes first, else the
# checkout's; tests.image from the checkout.
sys.path.append(str(Path(__file__).resolve().parents[1]))

from gsc.image import load_image

SYNTHETIC = "gsc-bench/synthetic:latest"
FILES = 20_000
TOTAL = 1 << 30


def _have(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True).returncode == 0


def build_synthetic() -> str:
    if _have(SYNTHETIC):
        return SYNTHETIC
    rng = random.Random(20_000)
    # sizes: mostly small files plus a few large ones, adding up to ~1 GiB
    sizes = [rng.randint(1, 64 << 10) for _ in range(FILES - 20)]
    big = (TOTAL - sum(sizes)) // 20
    sizes += [big] * 20
    rng.shuffle(sizes)
    proc = subprocess.Popen(["docker", "import", "-c", 'CMD ["/bin/none"]', "-", SYNTHETIC],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert proc.stdin is not None
    with tarfile.open(fileobj=proc.stdin, mode="w|") as tar:
        for i, size in enumerate(sizes):
            if i % 500 == 0:
                d = tarfile.TarInfo(f"data/d{i // 500:03d}")
                d.type = tarfile.DIRTYPE
                d.mode = 0o755
                tar.addfile(d)
            info = tarfile.TarInfo(f"data/d{i // 500:03d}/f{i:05d}.bin")
            info.size = size
            info.mode = 0o644
            import io

            tar.addfile(info, io.BytesIO(rng.randbytes(size)))
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("docker import failed")
    return SYNTHETIC


def baseline(ref: str) -> float:
    t = time.perf_counter()
    save = subprocess.Popen(["docker", "save", ref], stdout=subprocess.PIPE)
    subprocess.run(["sha256sum"], stdin=save.stdout, stdout=subprocess.DEVNULL, check=True)
    assert save.stdout is not None
    save.stdout.close()
    if save.wait() != 0:
        raise SystemExit("docker save failed")
    return time.perf_counter() - t


def gsc_read(ref: str, retain: str = "needed") -> tuple[float, dict[str, int]]:
    t = time.perf_counter()
    with load_image(ref, pull=False, retain=retain) as img:  # type: ignore[arg-type]
        stats = img.fs.stats
    return time.perf_counter() - t, stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("images", nargs="*")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--retain-all", action="store_true")
    args = ap.parse_args()
    refs = list(args.images)
    if not refs:
        from tests.image import images

        refs.append(images.ensure("pyapp"))
        if not args.skip_synthetic:
            refs.append(build_synthetic())
    for ref in refs:
        retain = "all" if args.retain_all else "needed"
        gsc_read(ref, retain)  # warm-up (page cache, engine)
        base = min(baseline(ref) for _ in range(args.repeat))
        runs = [gsc_read(ref, retain) for _ in range(args.repeat)]
        ours = min(r[0] for r in runs)
        stats = runs[0][1]
        print(f"{ref}: {stats['regular']} files, {stats['bytes'] / 2**20:.0f} MiB | "
              f"docker save | sha256sum: {base:.2f} s | gsc read+hash: {ours:.2f} s | "
              f"ratio {ours / base:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
