"""Preparation throughput on one core: bulk zip -> prepared volume (issue 19, part 4).

Times :func:`cardiolatent.images.pipeline.prepare_input` - the unit of work the encoder's reading
workers run per input (``prepare_job``): read the 4-chamber series from a UK Biobank bulk zip
(field 20208), prepare it with the published recipe, resample it to the model's input shape - in
one process with one BLAS/OpenMP/torch thread, for two implementations in the same run:

- ``reference``: every zip member read with :mod:`zipfile` and parsed with pydicom, the heart
  mask's morphology with scipy.ndimage (the code before this benchmark's issue);
- ``fast``: the current defaults (members inflated from the archive bytes, frames parsed by
  :mod:`cardiolatent.images.readers.dicom_fast`, the mask's morphology as integer window counts).

Rounds alternate the two so that machine load hits both alike. Every prepared volume of the two
is compared byte for byte (the run stops if one differs). Then a per-stage breakdown (same stages
for both; pydicom converts values lazily, so part of its parsing cost shows in the later stages)
and a cProfile of each.

    python benchmarks/bench_prepare.py                       # the built-in cohort's zips (4-chamber only)
    python benchmarks/bench_prepare.py --zips /tmp/synth40/bulk/20208 --n 44   # zips with all 3 series
    python benchmarks/bench_prepare.py --shape 8,32,32       # a reduced preset (adds resampling)

Writes a Markdown summary to stdout and, with ``--json``, the numbers to a file.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pydicom  # noqa: E402
import torch  # noqa: E402
from scipy import ndimage  # noqa: E402

from cardiolatent.images import prepare as prep  # noqa: E402
from cardiolatent.images.pipeline import fit_to_shapes, prepare_input  # noqa: E402
from cardiolatent.images.readers import InputItem  # noqa: E402
from cardiolatent.images.readers import bulk_zip as bz  # noqa: E402
from cardiolatent.images.readers.dicom_fast import parse_frame  # noqa: E402

torch.set_num_threads(1)
DEFAULT_ZIPS = Path.home() / ".cache" / "cardiolatent" / "synth_n1800_seed20208" / "bulk" / "20208"


@contextlib.contextmanager
def reference_mode():
    """The code as it was: pydicom + zipfile for every member, scipy.ndimage for the mask."""
    saved = (bz.FAST_PATH, prep._erode_square, prep._dilate_square, prep._median5_binary)
    bz.FAST_PATH = False
    prep._erode_square = lambda x, k: ndimage.binary_erosion(x, structure=np.ones((k, k), dtype=bool))
    prep._dilate_square = lambda x, k: ndimage.binary_dilation(x, structure=np.ones((k, k), dtype=bool))
    prep._median5_binary = lambda x: ndimage.median_filter(np.asarray(x, dtype=np.float64), size=5)
    try:
        yield
    finally:
        bz.FAST_PATH, prep._erode_square, prep._dilate_square, prep._median5_binary = saved


def mode(name: str):
    return reference_mode() if name == "reference" else contextlib.nullcontext()


def items_from(folder: Path, n: int) -> list[InputItem]:
    paths = sorted(folder.glob("*_20208_*_0.zip"))[:n]
    if not paths:
        raise SystemExit(f"no bulk zips in {folder}; build some with `cardiolatent synth --n 40 --out DIR`")
    out = []
    for p in paths:
        eid, inst = bz.parse_bulk_name(p)
        out.append(InputItem(eid, inst, str(p), "zip"))
    return out


def run_all(items, shapes):
    t0 = time.perf_counter()
    vols = [prepare_input(it, shapes) for it in items]
    return time.perf_counter() - t0, vols


def staged(item: InputItem, shape, fast: bool, acc: dict[str, float]) -> np.ndarray:
    """read_bulk_zip + prepare + resample, cut into stages (same calls, same order); adds seconds to acc."""
    path = Path(item.path)
    clock = time.perf_counter
    t = clock()
    zf = bz._open_zip(path)
    names = [n for n in zf.namelist() if not n.endswith("/")]
    man = bz._find_manifest(names)
    mapping = bz._manifest_series(zf, man, path)
    chosen = [f for f, d in mapping.items() if "lax_4ch" in d.lower()]
    acc["zip open + manifest"] += clock() - t
    t = clock()
    raw = [(m, bz._read_member(zf, m, path, fast)) for m in chosen]
    acc["inflate members"] += clock() - t
    t = clock()
    datasets = []
    for m, data in raw:
        hdr = parse_frame(data) if fast else None
        datasets.append((m, hdr if hdr is not None else pydicom.dcmread(io.BytesIO(data))))
    acc["DICOM parse"] += clock() - t
    t = clock()
    groups = bz._group_by_series(bz._prefer_magnitude(datasets))
    first = min(groups, key=lambda u: (bz._series_number(groups, u), u))
    its = groups[first]
    bz._order_frames(its, path)
    bz._check_frame_sizes(its, path)
    acc["select + sort frames"] += clock() - t
    t = clock()
    frames = bz._stack_frames(its, "LAX_4Ch", path)
    acc["pixel decode + stack"] += clock() - t
    t = clock()
    bz._series_info(path, frames, its, groups, first, man)
    acc["series info"] += clock() - t
    t = clock()
    mask = prep.heart_mask(frames)
    acc["heart mask"] += clock() - t
    t = clock()
    vol = prep.normalise(prep.crop(frames, mask))
    acc["crop + normalise"] += clock() - t
    t = clock()
    out = fit_to_shapes(vol, [shape])[tuple(shape)]
    acc["resample"] += clock() - t
    return out


STAGES = ("zip open + manifest", "inflate members", "DICOM parse", "select + sort frames", "pixel decode + stack",
          "series info", "heart mask", "crop + normalise", "resample")


def profile(items, shapes, name: str, top: int) -> str:
    pr = cProfile.Profile()
    with mode(name):
        pr.enable()
        for it in items:
            prepare_input(it, shapes)
        pr.disable()
    buf = io.StringIO()
    pstats.Stats(pr, stream=buf).strip_dirs().sort_stats("tottime").print_stats(top)
    return buf.getvalue()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--zips", type=Path, default=DEFAULT_ZIPS, help="folder of bulk zips {eid}_20208_{i}_0.zip")
    ap.add_argument("--n", type=int, default=40, help="participants (zips) per round")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds per implementation (alternating)")
    ap.add_argument("--shape", default="50,128,128", help="model input shape T,H,W (50,128,128: published)")
    ap.add_argument("--profile", type=int, default=20, help="cProfile lines per implementation (0: none)")
    ap.add_argument("--json", type=Path, help="write the numbers here")
    a = ap.parse_args(argv)
    shape = tuple(int(s) for s in a.shape.split(","))
    items = items_from(a.zips, a.n)
    load0 = os.getloadavg()

    # warm-up, and the byte-for-byte check
    with reference_mode():
        _, ref = run_all(items, [shape])
    _, new = run_all(items, [shape])
    for it, r, v in zip(items, ref, new):
        if r[shape].tobytes() != v[shape].tobytes():
            raise SystemExit(f"prepared volumes differ for {it.path}")

    times = {"reference": [], "fast": []}
    for _ in range(a.rounds):
        for name in ("reference", "fast"):
            with mode(name):
                times[name].append(run_all(items, [shape])[0])
    per = {k: statistics.median(v) / len(items) for k, v in times.items()}

    stages = {}
    for name in ("reference", "fast"):
        acc = dict.fromkeys(STAGES, 0.0)
        with mode(name):
            for it in items:
                staged(it, shape, name == "fast", acc)
        stages[name] = {k: v / len(items) for k, v in acc.items()}
    load1 = os.getloadavg()

    zsize = statistics.mean(Path(it.path).stat().st_size for it in items) / 2**20
    print(f"## Preparation per core ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}, pydicom {pydicom.__version__}, torch {torch.__version__}; one process, "
          f"1 thread. Load average {load0[0]:.2f} at start, {load1[0]:.2f} at end.")
    print(f"{len(items)} zips from {a.zips} (mean {zsize:.2f} MB), shape {shape}, median of {a.rounds} "
          f"alternating rounds; prepared volumes byte-identical between the two.\n")
    print("| implementation | ms per participant | participants/s per core | rounds (s) |")
    print("|---|---|---|---|")
    for name in ("reference", "fast"):
        print(f"| {name} | {1000 * per[name]:.1f} | {1 / per[name]:.1f} | "
              f"{', '.join(f'{t:.2f}' for t in times[name])} |")
    print(f"\nspeed-up {per['reference'] / per['fast']:.2f}x\n")
    print("| stage (ms per participant) | reference | fast |")
    print("|---|---|---|")
    for k in STAGES:
        print(f"| {k} | {1000 * stages['reference'][k]:.2f} | {1000 * stages['fast'][k]:.2f} |")
    print(f"| total (staged) | {1000 * sum(stages['reference'].values()):.2f} | "
          f"{1000 * sum(stages['fast'].values()):.2f} |")
    profiles = {}
    if a.profile:
        sub = items[: max(1, min(len(items), 20))]
        for name in ("reference", "fast"):
            profiles[name] = profile(sub, [shape], name, a.profile)
            print(f"\n### cProfile, {name} ({len(sub)} participants, by own time)\n\n```")
            print("\n".join(line for line in profiles[name].splitlines() if line.strip())[:6000])
            print("```")
    if a.json:
        a.json.write_text(json.dumps({"n": len(items), "shape": shape, "zips": str(a.zips), "mean_zip_mb": zsize,
                                      "seconds_per_participant": per, "rounds_s": times, "stages_s": stages,
                                      "load_start": load0, "load_end": load1, "cpu_count": os.cpu_count()},
                                     indent=2))


if __name__ == "__main__":
    main()
