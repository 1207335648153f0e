"""What every figure function accepts: a result object, or the path a command saved it to.

A path is read back with :meth:`cardiolatent.results.Result.load` (the class that saved it); the
figure then checks it is a result it can draw, so ``volcano("icc.tsv")`` fails with one line
naming the file and the kinds of result the figure draws.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt

from cardiolatent.errors import CardiolatentError
from cardiolatent.results import Result


def as_result(obj, kinds: tuple[str, ...], figure: str) -> Result:
    """``obj`` as a result whose class name is one of ``kinds``; a path is loaded first.

    ``figure`` names the figure in the error (``"volcano plot"``).
    """
    source = None
    if isinstance(obj, (str, os.PathLike)):
        source = Path(obj)
        obj = Result.load(source)
    name = type(obj).__name__
    if name not in kinds:
        where = f"{source}: " if source is not None else ""
        raise CardiolatentError(f"{where}a {figure} is drawn from {' or '.join(kinds)}, not {name}")
    return obj


def new_or_given_ax(ax, fig_factory):
    """(figure, ax): ``ax`` and its figure when given, else a new figure from ``fig_factory()``
    with one axes."""
    if ax is not None:
        return ax.figure, ax
    fig = fig_factory()
    return fig, fig.add_subplot(1, 1, 1)


def close(fig) -> None:
    """Close ``fig`` (batch drawing)."""
    plt.close(fig)


__all__ = ["as_result", "close", "new_or_given_ax"]
