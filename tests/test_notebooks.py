"""The tutorials in notebooks/ run from top to bottom without error and show their figures.

Two kinds of check:

- each notebook is executed here, top to bottom, on the test size of the built-in cohort
  (``CARDIOLATENT_BUILTIN_N=200`` from tests/conftest.py, inherited by the kernel): no error output,
  and at least one figure embedded as ``image/png`` (the figures are drawn inline, not only saved);
  notebook 02 analyses the latents the demo models encoded from the built-in cohort's images;
- the committed ``.ipynb`` files carry their executed outputs, run on the default 1,800-participant
  cohort, so that a reader on GitHub sees real figures and numbers (cheap: nothing is executed).

To refresh the committed outputs after changing a notebook (about 3 minutes on 2 cores once the
1,800-participant cohort is cached; building and encoding it first takes a few more)::

    python tests/test_notebooks.py --write          # executes every notebook and saves it in place
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
#: notebooks taking more than about a minute here (DDIM inversion and decoding on the CPU)
SLOW = {"03_image_to_manipulation.ipynb"}
#: what a committed notebook may weigh with its outputs (PNG figures at 150 dpi)
MAX_COMMITTED_BYTES = 1_500_000


def _params():
    return [pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.name in SLOW else []) for p in NOTEBOOKS]


def _code_outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def _errors(nb) -> list[str]:
    return [f"{o.get('ename')}: {o.get('evalue')}" for o in _code_outputs(nb) if o.get("output_type") == "error"]


def _images(nb, mime: str = "image/png") -> int:
    return sum(1 for o in _code_outputs(nb) if mime in o.get("data", {}))


def _text(nb) -> str:
    parts = []
    for o in _code_outputs(nb):
        parts.append(o.get("text", ""))
        parts.append(str(o.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def _source(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def execute(path: Path, cwd: Path):
    """The notebook at ``path`` executed top to bottom in ``cwd`` (nbclient; one cell may take 10 min)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def test_there_are_the_three_tutorials():
    assert [p.name for p in NOTEBOOKS] == ["01_reading_ukbiobank_data.ipynb", "02_latent_statistics.ipynb",
                                           "03_image_to_manipulation.ipynb"]


@pytest.mark.parametrize("path", _params())
def test_notebook_runs_and_shows_its_figures(path, tmp_path):
    assert os.environ.get("CARDIOLATENT_BUILTIN_N") == "200"  # conftest's test size, inherited by the kernel
    nb = execute(path, tmp_path)
    assert not _errors(nb)
    assert _images(nb) >= 1, f"{path.name}: no figure embedded in the executed output (image/png)"
    text = _text(nb)
    if path.name.startswith("02_"):
        # the latents the five demo models encoded from the built-in cohort's bulk zips, at the test size
        assert "latents_demo_" in text and "Latents: 200 rows" in text
        assert "seeds 1701, 1993, 42, 1994, 2023" in text
        assert _images(nb) >= 6  # ICC, cross-seed, two volcanos, forest, Kaplan-Meier, tertile forest
    if path.name.startswith("03_"):
        assert _images(nb, "image/gif") == 1  # the cine of every magnitude


def test_statistics_notebook_uses_the_encoded_latents_not_stand_ins():
    import nbformat

    src = _source(nbformat.read(NOTEBOOK_DIR / "02_latent_statistics.ipynb", as_version=4))
    assert "default_latents(" in src and "read_latents(latents_file)" in src
    for stand_in in ("np.random", "default_rng", "make_cohort(", "images=False", "np.linalg.qr"):
        assert stand_in not in src, f"notebook 02 builds stand-in latents ({stand_in})"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebook_carries_its_executed_outputs(path):
    """Nobody commits a notebook stripped, half-run, failed or run on the test size of the cohort."""
    import nbformat

    from cardiolatent.synth.default import DEFAULT_N

    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.get("execution_count") for c in code]
    assert all(isinstance(n, int) for n in counts), f"{path.name}: cells not executed: {counts}"
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: not run top to bottom once: {counts}"
    assert not _errors(nb)
    stderr = [o.get("text", "")[:200] for o in _code_outputs(nb)
              if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    assert not stderr, f"{path.name}: warnings or errors in the saved output: {stderr}"
    assert _images(nb) >= (6 if path.name.startswith("02_") else 1), f"{path.name}: figures missing"
    assert path.stat().st_size < MAX_COMMITTED_BYTES
    if path.name.startswith("02_"):
        assert f"Latents: {DEFAULT_N:,} rows" in _text(nb), "notebook 02 was not saved from the default cohort"


def main(argv: list[str]) -> int:
    """``--write``: execute every notebook on the default cohort and save it with its outputs."""
    import nbformat

    if argv != ["--write"]:
        print(__doc__)
        return 2
    os.environ.pop("CARDIOLATENT_BUILTIN_N", None)
    import tempfile

    for path in NOTEBOOKS:
        t = time.perf_counter()
        with tempfile.TemporaryDirectory() as cwd:
            nb = execute(path, Path(cwd))
        errors = _errors(nb)
        if errors:
            print(f"{path.name}: {errors}; not saved", file=sys.stderr)
            return 1
        nbformat.write(nb, path)
        print(f"{path.name}: {time.perf_counter() - t:.0f} s, {_images(nb)} figure(s), {path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
