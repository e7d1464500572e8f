"""A map image for planners: the LCZ map with legend, title, scale bar and north arrow.

Drawn with matplotlib (Agg) from the GeoTIFF, in the map's own projected CRS, so the
scale bar is true. Only the classes present are listed in the legend, each with its
share of the mapped area and its area (``area_table.format_km2``: one rule, 3
significant digits). The subtitle says the model and the map's accuracy in words
(``map_subtitle``).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from ..common.atomic import atomic_output
from ..common.errors import require
from ..common.legend import LCZ_CLASSES, N_CLASSES, class_colors, class_name, matplotlib_cmap
from ..raster.io import read_lcz_map
from .area_table import format_km2

FILTER_WORDS = {"majority": "majority filter", "gaussian": "Gaussian filter"}


def model_words(model_type: str, sensor: str | None = None) -> str:
    """A model as a person reads it: ``random forest, Sentinel-2``."""
    from ..common.enums import SENSOR_LABELS
    from ..models import model_name

    words = model_name(model_type)
    return f"{words}, {SENSOR_LABELS.get(sensor, sensor)}" if sensor else words


def accuracy_words(scores: dict, how: str) -> str:
    """OA and kappa of ``scores`` (floats, or dicts with mean, low and high) and how they
    were measured: ``OA 0.81 [0.77-0.84], kappa 0.78 [0.74-0.82] (bootstrap, 25
    splits)``; ``""`` without a finite OA."""
    parts = []
    for key, name in (("oa", "OA"), ("kappa", "kappa")):
        v = scores.get(key)
        mean = v.get("mean") if isinstance(v, dict) else v
        if mean is None or not np.isfinite(mean):
            continue
        text = f"{name} {mean:.2f}"
        if isinstance(v, dict) and np.isfinite([v.get("low", np.nan), v.get("high", np.nan)]).all():
            text += f" [{v['low']:.2f}-{v['high']:.2f}]"
        parts.append(text)
    if not parts or not parts[0].startswith("OA"):
        return ""
    return ", ".join(parts) + (f" ({how})" if how else "")


def bootstrap_accuracy(summary: dict, n_splits: int) -> str:
    """The bootstrap's OA and kappa with their 95% intervals (``bootstrap.summarise``)."""
    return accuracy_words(summary, f"bootstrap, {n_splits} splits")


def manifest_accuracy(manifest: dict) -> str:
    """The accuracy a model file records (``scores``), with where it was measured: the
    published test set, the bootstrap by polygon, or the validation rows; ``""`` when the
    manifest holds no scores."""
    import re

    scores = manifest.get("scores") or {}
    published = manifest.get("published_score") or {}
    validation = str((manifest.get("training") or {}).get("validation") or "")
    boot = re.match(r"bootstrap of (\d+)", validation)
    if manifest.get("scores_source") and published.get("dataset"):
        how = f"published, {published['dataset']}"
    elif boot:
        how = f"bootstrap, {boot.group(1)} splits"
    else:
        how = f"validation: {validation}" if validation else "validation"
    return accuracy_words(scores, how)


def map_subtitle(model_type: str, sensor: str | None, cell_m: float, method: str = "none",
                 accuracy: str = "") -> str:  # fmt: skip
    """The map image's subtitle in words: ``random forest, Sentinel-2, 100 m cells,
    majority filter; OA 0.81 [0.77-0.84], kappa 0.78 (bootstrap, 25 splits)``."""
    text = f"{model_words(model_type, sensor)}, {cell_m:g} m cells"
    if method in FILTER_WORDS:
        text += f", {FILTER_WORDS[method]}"
    return text + (f"; {accuracy}" if accuracy else "")


def _nice_length(max_m: float) -> float:
    """A round scale-bar length not longer than ``max_m`` metres."""
    exp = 10 ** np.floor(np.log10(max_m))
    for m in (5, 2, 1):
        if m * exp <= max_m:
            return m * exp
    return exp


def map_figure(lcz_tif, title: str = "Local Climate Zones", subtitle: str = "",
               warning: str = ""):  # fmt: skip
    """The map image's matplotlib Figure (``render_map_png``), on an Agg canvas.

    Raises:
        LczError: matplotlib is not installed.
    """
    require("matplotlib", "matplotlib", "The map image")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    codes, info = read_lcz_map(lcz_tif)
    gt = info.geotransform
    h, w = codes.shape
    extent = (gt[0], gt[0] + w * gt[1], gt[3] + h * gt[5], gt[3])
    counts = np.bincount(codes.ravel(), minlength=N_CLASSES + 1)
    cell_km2 = abs(gt[1] * gt[5]) / 1e6

    fig = Figure(figsize=(10, 7.2))
    FigureCanvasAgg(fig)
    ax = _draw_map(fig, codes, extent, info.crs_description())
    fig.suptitle(title, fontsize=15, x=0.04, ha="left", y=0.97)
    if subtitle:
        fig.text(0.04, 0.905, "\n".join(textwrap.wrap(subtitle, 130)), fontsize=9,
                 color="#444444", va="bottom")  # fmt: skip
    if warning:
        fig.text(0.04, 0.88, "\n".join(textwrap.wrap(warning, 120)), fontsize=8,
                 color="#c00000", va="top", weight="bold")  # fmt: skip
    _draw_scale_bar(ax, extent)
    _draw_north_arrow(ax, extent)
    _draw_legend(fig, counts, cell_km2)
    fig.text(
        0.69,
        0.05,
        f"{w} x {h} cells of {abs(gt[1]):g} m; mapped {format_km2(counts[1:].sum() * cell_km2)}; "
        "white = no data",
        fontsize=7,
        color="#444444",
    )
    return fig


def render_map_png(
    lcz_tif,
    png,
    title: str = "Local Climate Zones",
    subtitle: str = "",
    dpi: int = 150,
    warning: str = "",
) -> Path:
    """Draw the LCZ map ``lcz_tif`` as a PNG with legend, title, scale bar and north arrow.

    Args:
        lcz_tif: the LCZ map (GeoTIFF, uint8 codes 1-17, 0 = nodata, projected CRS).
        png: the PNG to write (written to a temporary, then renamed).
        title: the title, top left.
        subtitle: a line under the title, in words (``map_subtitle``: the model, the
            cells, the accuracy); none when empty.
        dpi: the image's resolution (the figure is 10 x 7.2 inches).
        warning: a red line under the subtitle (e.g. a chance-level map); none when empty.

    Returns:
        The path of the PNG written.

    Raises:
        LczError: matplotlib is not installed.
    """
    fig = map_figure(lcz_tif, title, subtitle, warning)
    with atomic_output(png) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return Path(png)


def _draw_map(fig, codes, extent, crs_description: str):
    """Draw the LCZ codes (0 transparent) on new axes of ``fig``, in map units.

    Args:
        fig: the matplotlib figure.
        codes: (rows, cols) uint8 LCZ codes.
        extent: (xmin, xmax, ymin, ymax) of the map, in metres.
        crs_description: the map's CRS, named on the x axis.

    Returns:
        The map's axes.
    """
    cmap, norm = matplotlib_cmap()
    ax = fig.add_axes([0.08, 0.08, 0.58, 0.80])
    ax.imshow(
        np.ma.masked_equal(codes, 0), cmap=cmap, norm=norm, extent=extent, interpolation="nearest"
    )
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.set_xlabel(f"Easting (m), {crs_description}", fontsize=8)
    ax.set_ylabel("Northing (m)", fontsize=8)
    return ax


def _draw_scale_bar(ax, extent) -> None:
    """Draw a black-and-white scale bar, a round length near a quarter of the map's width,
    in the lower left of the map.

    Args:
        ax: the map's axes (in metres).
        extent: (xmin, xmax, ymin, ymax) of the map.
    """
    from matplotlib.patches import Rectangle

    width_m = extent[1] - extent[0]
    height_m = extent[3] - extent[2]
    bar = _nice_length(width_m / 4)
    x0, y0 = extent[0] + 0.05 * width_m, extent[2] + 0.05 * height_m
    for k in range(2):
        ax.add_patch(
            Rectangle(
                (x0 + k * bar / 2, y0),
                bar / 2,
                0.012 * height_m,
                facecolor="black" if k == 0 else "white",
                edgecolor="black",
            )
        )
    label = f"{bar / 1000:g} km" if bar >= 1000 else f"{bar:g} m"
    ax.text(
        x0 + bar / 2,
        y0 + 0.025 * height_m,
        label,
        ha="center",
        fontsize=8,
        bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none"},
    )


def _draw_north_arrow(ax, extent) -> None:
    """Draw a north arrow with an "N" in the upper right of the map.

    Args:
        ax: the map's axes (in metres, north up).
        extent: (xmin, xmax, ymin, ymax) of the map.
    """
    from matplotlib.patches import FancyArrow

    width_m = extent[1] - extent[0]
    height_m = extent[3] - extent[2]
    ax_x, ax_y = extent[1] - 0.07 * width_m, extent[3] - 0.16 * height_m
    ax.add_patch(
        FancyArrow(
            ax_x,
            ax_y,
            0,
            0.09 * height_m,
            width=0.015 * width_m,
            head_width=0.045 * width_m,
            head_length=0.04 * height_m,
            length_includes_head=True,
            color="black",
        )
    )
    ax.text(ax_x, ax_y + 0.105 * height_m, "N", ha="center", fontsize=11, weight="bold")


def _draw_legend(fig, counts, cell_km2: float) -> None:
    """Draw the legend of the classes present, each with its share and area, beside the map.

    Args:
        fig: the matplotlib figure (the legend gets axes of its own, on the right).
        counts: cells per value 0..17 (0 = nodata, not listed).
        cell_km2: the area of one cell (km²).
    """
    from matplotlib.patches import Patch

    mapped = counts[1:].sum()
    colors = class_colors()  # the run's palette and language (legend.legend_style)
    handles = [
        Patch(
            facecolor=colors[c.code],
            edgecolor="#666666",
            label=f"{c.letter:>2}  {class_name(c.code)}  "
            f"({100 * counts[c.code] / max(mapped, 1):.1f}%, "
            f"{format_km2(counts[c.code] * cell_km2)})",
        )
        for c in LCZ_CLASSES
        if counts[c.code]
    ]
    leg_ax = fig.add_axes([0.69, 0.08, 0.29, 0.80])
    leg_ax.axis("off")
    if not handles:
        leg_ax.text(0, 0.95, "No classified cells\n(the map holds only nodata)", fontsize=9)
    leg_ax.legend(
        handles=handles,
        loc="upper left",
        fontsize=8,
        frameon=False,
        title="LCZ (share and area of the mapped area)",
        title_fontsize=9,
        alignment="left",
    )
