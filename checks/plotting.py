"""Figure helpers: log-log plots of measured points with error bars against predicted curves."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def figure(ncols: int = 1, nrows: int = 1, w: float = 4.6, h: float = 3.6):
    fig, axes = plt.subplots(nrows, ncols, figsize=(w * ncols, h * nrows), squeeze=False)
    return fig, axes.ravel()


def tidy_log_axes(ax):
    """Label only the decades of log axes (minor labels overlap on short ranges)."""
    from matplotlib.ticker import NullFormatter

    if ax.get_xscale() == "log":
        ax.xaxis.set_minor_formatter(NullFormatter())
    if ax.get_yscale() == "log":
        ax.yaxis.set_minor_formatter(NullFormatter())


def loglog_panel(
    ax,
    x,
    y_mean,
    y_lo=None,
    y_hi=None,
    *,
    label="measured",
    pred_x=None,
    pred_y=None,
    pred_label="predicted",
    title="",
    xlabel="",
    ylabel="",
    color=None,
    marker="o",
):
    x, y_mean = np.asarray(x, float), np.asarray(y_mean, float)
    yerr = None
    if y_lo is not None and y_hi is not None:
        yerr = np.vstack(
            [np.clip(y_mean - np.asarray(y_lo, float), 0, None), np.clip(np.asarray(y_hi, float) - y_mean, 0, None)]
        )
    line = ax.errorbar(x, y_mean, yerr=yerr, fmt=marker, ms=4, capsize=2, label=label, color=color)
    if pred_x is not None:
        ax.plot(pred_x, pred_y, "-", lw=1.2, label=pred_label, color=line[0].get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    tidy_log_axes(ax)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return ax
