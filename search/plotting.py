"""PNG plots of a study: the Pareto front and hypervolume over evaluations."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .results import StudyResults

__all__ = ["plot_study"]


def plot_study(results: StudyResults, path: str | Path) -> Path:
    """Left: all completed trials and the feasible front (first two objectives), knee marked.
    Right: hypervolume after each completed evaluation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (ax, ax_hv) = plt.subplots(1, 2, figsize=(11, 4.5))
    done = results.completed()
    front = results.pareto_trials()
    names = [o.name for o in results.objectives]
    if done and len(names) >= 2:
        V = results.values(done)
        ax.scatter(V[:, 0], V[:, 1], s=10, c="0.7", label=f"evaluated ({len(done)})")
        if front:
            P = results.values(front)
            order = np.argsort(P[:, 0])
            # the front's boundary between two points: the better neighbour's value of the second objective,
            # the left one when the first is minimised, the right one when it is maximised
            where = "pre" if results.objectives[0].sign < 0 else "post"
            ax.step(P[order, 0], P[order, 1], where=where, c="C3", lw=1)
            ax.scatter(P[:, 0], P[:, 1], s=22, c="C3", label=f"Pareto front ({len(front)})")
            knee = results.knee()
            if knee is not None:
                kv = results.values([knee])[0]
                ax.scatter([kv[0]], [kv[1]], s=120, facecolors="none", edgecolors="k", label="knee")
        ax.set_xlabel(f"{names[0]} ({results.objectives[0].direction})")
        ax.set_ylabel(f"{names[1]} ({results.objectives[1].direction})")
        ax.legend(loc="best", fontsize=8)
    elif done:
        V = results.values(done)
        ax.plot(V[:, 0], ".", c="0.5")
        ax.set_ylabel(names[0])
    ax.set_title(f"{results.name}: front")
    hv = results.hypervolume_history() if front else np.zeros(0)
    if len(hv):
        ax_hv.plot(np.arange(1, len(hv) + 1), hv, c="C0")
    ax_hv.set_xlabel("completed evaluations")
    ax_hv.set_ylabel("hypervolume")
    ax_hv.set_title("hypervolume over evaluations")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
