"""Figures of the claim checks: one style, log-log panels of measured points against predicted curves, and
mean-over-seeds curves with their 95% bands.

- :func:`figure`: a row of panels of the shared size; :func:`style`: titles, labels, log axes and legends in
  the shared font sizes (``TITLE_SIZE``, ``LEGEND_SIZE``).
- :func:`loglog_panel`: points with error bars and a predicted line on log-log axes; :func:`loglog_band`: the
  same for a (seeds, points) array, with the 95% t-interval of the mean as error bars.
- :func:`band`: a mean curve over seeds with its 95% t-band filled (:func:`checks.stats.mean_ci`);
  :func:`band_panel`: a figure of several such curves.
"""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
from stats import mean_ci

TITLE_SIZE = 9
LEGEND_SIZE = 7
BAND_ALPHA = 0.25
# the gid of a band drawn by :func:`band` (a 95% t-interval of the mean over seeds): :func:`finalize` names only
# these bands in a legend; any other filled band (min-max over seeds, a theory range) must say what it is itself
CI_BAND = "amemory:ci95-over-seeds"
# whole words only: "ci" inside "specific" or "band" inside "bandwidth" does not name a band
BAND_WORDS = re.compile(r"\b(bands?|ci|intervals?|shaded)\b")


def figure(ncols: int = 1, nrows: int = 1, w: float = 4.6, h: float = 3.6):
    """A figure of ``nrows`` x ``ncols`` panels of w x h inches each; returns (fig, flat array of axes)."""
    fig, axes = plt.subplots(nrows, ncols, figsize=(w * ncols, h * nrows), squeeze=False)
    return fig, axes.ravel()


def tidy_log_axes(ax):
    """Readable ticks on log axes: only the decades are labelled when the axis spans more than about one decade
    (minor labels overlap there); a shorter axis gets labels at 1, 2 and 5 times the powers of ten (one decade label
    alone would leave a one-tick axis)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for axis, scale, lim in ((ax.xaxis, ax.get_xscale(), ax.get_xlim()), (ax.yaxis, ax.get_yscale(), ax.get_ylim())):
        if scale != "log":
            continue
        lo, hi = sorted(lim)
        axis.set_minor_formatter(NullFormatter())
        if lo > 0 and np.log10(hi / lo) < 1.3:
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def style(ax, *, title=None, xlabel=None, ylabel=None, logx=False, logy=False, legend=LEGEND_SIZE, grid=False):
    """The shared look of a panel: log axes labelled at the decades, title in ``TITLE_SIZE``, a legend in
    ``legend`` points (None: no legend), optional grid. Arguments left at None are not touched."""
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    tidy_log_axes(ax)
    if title is not None:
        ax.set_title(title, fontsize=TITLE_SIZE)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if grid:
        ax.grid(True, which="both", alpha=0.3)
    if legend is not None:
        ax.legend(fontsize=legend)
    return ax


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
    title=None,
    xlabel=None,
    ylabel=None,
    color=None,
    marker="o",
):
    """Measured points (with error bars [y_lo, y_hi] if given) and a predicted curve, on log-log axes (a title or
    label left at None keeps what the panel has, so a second call on the same panel does not erase them)."""
    x, y_mean = np.asarray(x, float), np.asarray(y_mean, float)
    yerr = None
    if y_lo is not None and y_hi is not None:
        yerr = np.vstack(
            [np.clip(y_mean - np.asarray(y_lo, float), 0, None), np.clip(np.asarray(y_hi, float) - y_mean, 0, None)]
        )
    line = ax.errorbar(x, y_mean, yerr=yerr, fmt=marker, ms=4, capsize=2, label=label, color=color)
    if pred_x is not None:
        ax.plot(pred_x, pred_y, "-", lw=1.2, label=pred_label, color=line[0].get_color())
    return style(ax, title=title, xlabel=xlabel, ylabel=ylabel, logx=True, logy=True, legend=7, grid=True)


def loglog_band(ax, x, values, label, **kw):
    """:func:`loglog_panel` of the mean over seeds of ``values`` (seeds, points) with its 95% t-interval."""
    m, lo, hi = mean_ci(values)
    return loglog_panel(ax, x, m, lo, hi, label=label, **kw)


def band(ax, x, values, label=None, *, axis=0, clip=None, color=None, alpha=BAND_ALPHA, logx=False):
    """Mean of ``values`` over seeds (``axis``) as a line, with its 95% t-band filled in the line's colour.

    ``clip`` = (lo, hi) clips the band (e.g. (0, 1) for accuracies and probes). Returns the line.
    """
    m, lo, hi = mean_ci(values, axis=axis)
    if clip is not None:
        lo, hi = np.clip(lo, *clip), np.clip(hi, *clip)
    (line,) = ax.plot(x, m, label=label, color=color)
    ax.fill_between(x, lo, hi, alpha=alpha, color=line.get_color()).set_gid(CI_BAND)
    if logx:
        ax.set_xscale("log")
    return line


def band_panel(curves, title, *, xlabel="samples", ylabel="population error", logy=True, w=None):
    """One panel of mean curves with 95% bands over seeds, log x: ``curves`` = [(x (R,), values (S, R), label)].

    Returns the figure."""
    fig, axes = figure(1, 1) if w is None else figure(1, 1, w=w)
    ax = axes[0]
    for x, values, label in curves:
        band(ax, x, values, label, alpha=0.2)
    style(ax, title=title, xlabel=xlabel, ylabel=ylabel, logx=True, logy=logy, legend=6)
    return fig


def finalize(fig) -> list[str]:
    """The shared style applied to every figure of the report before it is saved (``checks/report.py``).

    Constrained layout (no overlapping labels between panels); decade-only tick labels on log axes; a colorbar for
    every heat map (an axes with an image) that lacks one; a legend entry defining the shaded bands ("95% band over
    seeds", the t-interval of :func:`band`) where a panel with a legend has filled bands, all drawn by
    :func:`band`, and its legend does not say what they are. Returns the problems left to the check's author:
    panels with data but without an axis label, and panels with a legend and a filled band of another kind (drawn
    with ``fill_between`` directly: min-max over seeds, a theory range) whose legend does not name it (the 95%
    entry would be false there).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.

    Returns
    -------
    list of str
        One line per panel that lacks an x or y label.
    """
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch

    if fig.get_layout_engine() is None:
        fig.set_layout_engine("constrained")
    cbar_axes = {getattr(im.colorbar, "ax", None) for ax in fig.axes for im in ax.images if im.colorbar}
    problems = []
    for i, ax in enumerate(list(fig.axes)):
        if ax in cbar_axes or ax.get_label() == "<colorbar>":
            continue
        tidy_log_axes(ax)
        for im in ax.images:
            if im.colorbar is None:
                fig.colorbar(im, ax=ax, shrink=0.85)
        bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
        leg = ax.get_legend()
        if bands and leg is not None:
            texts = " ".join(t.get_text().lower() for t in leg.get_texts())
            if not BAND_WORDS.search(texts):
                if all(b.get_gid() == CI_BAND for b in bands):
                    handles, labels = ax.get_legend_handles_labels()
                    handles.append(Patch(facecolor="gray", alpha=BAND_ALPHA))
                    labels.append("shaded: 95% band over seeds")
                    ax.legend(handles, labels, fontsize=LEGEND_SIZE)
                else:
                    problems.append(
                        f"panel {i} ({ax.get_title()!r}): a filled band not drawn by band() and no legend entry "
                        "saying what it is (label it, e.g. 'shaded: min-max over seeds')"
                    )
        has_data = bool(ax.lines or ax.collections or ax.images or ax.patches)
        if has_data and (not ax.get_xlabel() or not ax.get_ylabel()) and ax.axison:
            title = ax.get_title() or fig.get_suptitle() if hasattr(fig, "get_suptitle") else ax.get_title()
            problems.append(f"panel {i} ({title!r}): x label {ax.get_xlabel()!r}, y label {ax.get_ylabel()!r}")
    return problems
