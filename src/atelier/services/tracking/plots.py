"""Evaluation plots as PNG images (matplotlib's Agg canvas, no pyplot state: thread-safe)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def figure(width: float = 5.0, height: float = 4.0) -> tuple[Figure, Axes]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def curves(
    title: str,
    xlabel: str,
    ylabel: str,
    lines: Sequence[tuple[str, Any, Any]],
    *,
    diagonal: bool = False,
) -> Figure:
    """One line per ``(label, x, y)``; ``diagonal`` draws the chance/perfect line."""
    fig, ax = figure()
    for label, x, y in lines:
        ax.plot(x, y, label=label, linewidth=1.5)
    if diagonal:
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if len(lines) > 0:
        ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> Figure:
    size = max(4.0, 0.6 * len(labels) + 2.5)
    fig, ax = figure(size, size - 0.5)
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ticks = list(range(len(labels)))
    ax.set_xticks(ticks, labels, rotation=45, ha="right")
    ax.set_yticks(ticks, labels)
    ax.set(title="Confusion matrix", xlabel="Predicted", ylabel="Actual")
    peak = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            color = "white" if peak and count > peak / 2 else "black"
            ax.text(j, i, str(count), ha="center", va="center", color=color, fontsize="small")
    return fig


def bars(title: str, names: Sequence[str], values: Sequence[float], errors: Any = None) -> Figure:
    """Horizontal bars, largest on top (feature importance)."""
    fig, ax = figure(6.0, max(3.0, 0.3 * len(names) + 1.2))
    positions = list(range(len(names)))[::-1]
    ax.barh(positions, values, xerr=errors, color="#4c78a8")
    ax.set_yticks(positions, names)
    ax.set(title=title, xlabel="Mean drop in score when shuffled")
    ax.grid(axis="x", alpha=0.3)
    return fig


def scatter(title: str, xlabel: str, ylabel: str, x: Any, y: Any, *, line: str) -> Figure:
    """Points with a reference line: ``line="zero"`` (residuals) or ``"identity"``."""
    fig, ax = figure()
    ax.scatter(x, y, s=8, alpha=0.5, color="#4c78a8")
    if line == "zero":
        ax.axhline(0, linestyle="--", color="grey", linewidth=1)
    elif len(x):
        low, high = min(min(x), min(y)), max(max(x), max(y))
        ax.plot([low, high], [low, high], linestyle="--", color="grey", linewidth=1)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    return fig


def histogram(title: str, xlabel: str, values: Any) -> Figure:
    fig, ax = figure()
    ax.hist(values, bins=30, color="#4c78a8")
    ax.set(title=title, xlabel=xlabel, ylabel="Count")
    ax.grid(alpha=0.3)
    return fig
