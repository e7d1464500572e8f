"""Summary of a So2Sat LCZ42 file (``lcz:datasetsummary`` / ``lcz summary``).

Class counts come from the ``label`` dataset alone (17 floats per patch: 48 MB for the
352,366 patches of training.h5); band statistics from a seeded random sample of at most
``sample_size`` patches, read in sorted runs. The images are never read in full, so a
52 GB file is summarised in seconds. Outputs: a text table, an HTML report (for the
Processing results viewer, with the class histogram embedded) and a PNG histogram in
LCZ colours.
"""

from __future__ import annotations

import base64
import html
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common.atomic import (
    atomic_output,
    check_distinct_paths,
    check_output_path,
    write_text_atomic,
)
from ..common.bands import sensor_channels
from ..common.enums import Sensor
from ..common.errors import LczError, check_seed, param, require
from ..common.feedback import Feedback
from ..common.legend import LCZ_CLASSES

DEFAULT_SAMPLE = 500


@dataclass
class BandStats:
    """Statistics of one band's finite values in the sampled patches (NaN when none).

    Attributes:
        name: the channel name (``bands.sensor_channels``).
        minimum, maximum, mean, std: of those values, So2Sat scale.
        p2, p98: their 2nd and 98th percentiles.
    """

    name: str
    minimum: float
    maximum: float
    mean: float
    std: float
    p2: float
    p98: float


@dataclass
class DatasetSummary:
    """What ``summarize`` found in a So2Sat file.

    Attributes:
        path: the file.
        n: patches.
        file_size: bytes.
        shapes: dataset name -> (shape, dtype).
        counts: (17,) patches per class (index 0 = LCZ 1); None without labels.
        band_stats: sensor -> a ``BandStats`` per band.
        sample_indices: the rows the band statistics were computed from.
        bytes_read: bytes read from the file.
        seconds: time taken.
    """

    path: Path
    n: int
    file_size: int
    shapes: dict  # dataset name -> (shape, dtype)
    counts: np.ndarray | None  # 17 counts (index 0 = LCZ 1) or None without labels
    band_stats: dict = field(default_factory=dict)  # sensor -> [BandStats]
    sample_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    bytes_read: int = 0
    seconds: float = 0.0

    def class_rows(self) -> list[tuple[int, str, str, int, float]]:
        """(code, letter, name, count, percent) per LCZ class."""
        if self.counts is None:
            return []
        total = max(1, int(self.counts.sum()))
        return [
            (c.code, c.letter, c.name, int(self.counts[i]), 100.0 * self.counts[i] / total)
            for i, c in enumerate(LCZ_CLASSES)
        ]

    def text(self) -> str:
        """The summary as a plain-text report: datasets, patches per class and band statistics."""
        lines = [
            f"{self.path.name}: {self.n} patches, {self.file_size / 1e9:.2f} GB",
            *(f"  {k}: shape {s}, {d}" for k, (s, d) in self.shapes.items()),
        ]
        if self.counts is not None:
            lines.append("")
            lines.append(f"{'code':>4}  {'LCZ':<3} {'name':<22} {'count':>9} {'%':>6}")
            for code, letter, name, count, pct in self.class_rows():
                lines.append(f"{code:>4}  {letter:<3} {name:<22} {count:>9} {pct:>6.2f}")
            lines.append(f"{'':>4}  {'':<3} {'total':<22} {int(self.counts.sum()):>9} {100:>6.2f}")
        for sensor, stats in self.band_stats.items():
            lines.append("")
            lines.append(
                f"{sensor}: values of {self.sample_indices.size} random patches "
                f"(min / max / mean / std / 2nd-98th percentile)"
            )
            for s in stats:
                lines.append(
                    f"  {s.name:<14} {s.minimum:>11.4g} {s.maximum:>11.4g} {s.mean:>11.4g} "
                    f"{s.std:>11.4g}   {s.p2:.4g} .. {s.p98:.4g}"
                )
        return "\n".join(lines)


def _stats(name: str, v: np.ndarray) -> BandStats:
    v = v[np.isfinite(v)].astype(np.float64)
    if v.size == 0:
        nan = float("nan")
        return BandStats(name, nan, nan, nan, nan, nan, nan)
    p2, p98 = np.percentile(v, (2, 98))
    return BandStats(
        name, float(v.min()), float(v.max()), float(v.mean()), float(v.std()), float(p2), float(p98)
    )


def summarize(
    path, sample_size: int = DEFAULT_SAMPLE, seed: int = 0, feedback: Feedback | None = None
) -> DatasetSummary:
    """Counts per class (labels only) and band statistics from a random sample."""
    from .file import So2SatFile, dn_scale_warning

    feedback = feedback or Feedback()
    t0 = time.monotonic()
    if sample_size < 0:
        raise LczError("the sample size must be 0 or more patches")
    seed = check_seed(seed)
    with So2SatFile(path, require=()) as f:
        shapes = {}
        for key in (Sensor.SEN1, Sensor.SEN2, "label"):
            if f.has(key) or (key == "label" and f.has_labels):
                ds = f.dataset(key)
                shapes[key] = (tuple(ds.shape), str(ds.dtype))
        counts = None
        if f.has_labels:
            feedback.info("counting classes (labels only)")
            counts = f.class_counts()
            lab = f.dataset("label")
            f.bytes_read += int(np.prod(lab.shape)) * lab.dtype.itemsize
        feedback.progress(40)
        rng = np.random.default_rng(seed)
        k = min(int(sample_size), f.n)
        sample = np.sort(rng.choice(f.n, size=k, replace=False)) if k else np.zeros(0, np.int64)
        stats = {}
        sensors = [s for s in (Sensor.SEN2, Sensor.SEN1) if f.has(s)]
        for j, sensor in enumerate(sensors):
            feedback.check_cancelled()
            if k == 0:
                break
            feedback.info(f"{sensor}: statistics of {k} random patches")
            x = f.read(sensor, sample)
            if sensor == Sensor.SEN2:
                message = dn_scale_warning(x, f"'{f.path.name}'")
                if message:
                    feedback.warning(message)
            stats[sensor] = [
                _stats(name, x[..., c]) for c, name in enumerate(sensor_channels(sensor))
            ]
            feedback.progress(40 + 60 * (j + 1) / len(sensors))
        result = DatasetSummary(
            path=Path(path),
            n=f.n,
            file_size=f.file_size,
            shapes=shapes,
            counts=counts,
            band_stats=stats,
            sample_indices=sample,
            bytes_read=f.bytes_read,
            seconds=time.monotonic() - t0,
        )
    feedback.progress(100)
    return result


# -- plot and report ---------------------------------------------------------------------
def histogram_png_bytes(summary: DatasetSummary, dpi: int = 110) -> bytes:
    """A bar chart of the class counts in LCZ colours (matplotlib, Agg, no pyplot)."""
    require("matplotlib", "matplotlib", "The class histogram")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if summary.counts is None:
        raise LczError(f"'{summary.path.name}' has no labels: there is no class histogram")
    fig = Figure(figsize=(9, 4.2), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes([0.08, 0.2, 0.9, 0.68])
    x = np.arange(len(LCZ_CLASSES))
    counts = summary.counts.astype(np.int64)
    total = max(1, int(counts.sum()))
    ax.bar(
        x,
        counts,
        color=[c.color for c in LCZ_CLASSES],
        edgecolor="#333333",
        linewidth=0.6,
    )
    for xi, cnt in zip(x, counts):
        ax.text(xi, cnt, f"{cnt}\n{100 * cnt / total:.1f}%", ha="center", va="bottom", fontsize=6.5)
    ax.set_xticks(x)
    ax.set_xticklabels([c.letter for c in LCZ_CLASSES])
    ax.set_xlabel("LCZ class (1-10 built types, A-G land-cover types)")
    ax.set_ylabel("patches")
    ax.set_ylim(0, max(1, counts.max()) * 1.22)
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    fig.suptitle(f"{summary.path.name}: {summary.n} patches per LCZ class", fontsize=11)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def html_report(summary: DatasetSummary, png: bytes | None = None) -> str:
    """The summary as a self-contained HTML page.

    Args:
        summary: the summary.
        png: the class histogram to embed (``histogram_png_bytes``); None: none.
    """
    e = html.escape
    rows = "\n".join(
        f"<tr><td>{code}</td><td><span class='sw' style='background:{LCZ_CLASSES[code - 1].color}'>"
        f"</span> {e(letter)}</td><td>{e(name)}</td><td class='r'>{count}</td>"
        f"<td class='r'>{pct:.2f}</td></tr>"
        for code, letter, name, count, pct in summary.class_rows()
    )
    shapes = "".join(
        f"<tr><td>{e(k)}</td><td>{e(str(s))}</td><td>{e(d)}</td></tr>"
        for k, (s, d) in summary.shapes.items()
    )
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{e(summary.path.name)}: So2Sat dataset summary</title>",
        "<style>body{font-family:sans-serif;font-size:13px} table{border-collapse:collapse;"
        "margin-bottom:14px} td,th{border:1px solid #bbb;padding:2px 8px} th{background:#eee}"
        " .r{text-align:right} .sw{display:inline-block;width:12px;height:12px;"
        "border:1px solid #444;vertical-align:middle}</style></head><body>",
        f"<h2>{e(summary.path.name)}</h2>",
        f"<p>{summary.n} patches of 32 &times; 32 pixels, file size "
        f"{summary.file_size / 1e9:.2f} GB. Summarised in {summary.seconds:.1f} s, reading "
        f"{summary.bytes_read / 1e6:.1f} MB.</p>",
        "<h3>Datasets</h3><table><tr><th>name</th><th>shape</th><th>type</th></tr>",
        shapes,
        "</table>",
    ]
    if summary.counts is not None:
        parts += [
            "<h3>Patches per class</h3>",
            "<table><tr><th>code</th><th>LCZ</th><th>name</th><th>count</th><th>%</th></tr>",
            rows,
            f"<tr><th></th><th></th><th>total</th><th class='r'>{int(summary.counts.sum())}"
            "</th><th class='r'>100.00</th></tr></table>",
        ]
        if png:
            b64 = base64.b64encode(png).decode("ascii")
            parts.append(
                f"<p><img alt='patches per LCZ class' src='data:image/png;base64,{b64}'/></p>"
            )
    else:
        parts.append("<p>The file has no <code>label</code> dataset.</p>")
    for sensor, stats in summary.band_stats.items():
        parts += [
            f"<h3>{e(sensor)}: values of {summary.sample_indices.size} random patches</h3>",
            "<table><tr><th>band</th><th>min</th><th>max</th><th>mean</th><th>std</th>"
            "<th>2nd pct</th><th>98th pct</th></tr>",
            *(
                f"<tr><td>{e(s.name)}</td>"
                + "".join(
                    f"<td class='r'>{v:.4g}</td>"
                    for v in (s.minimum, s.maximum, s.mean, s.std, s.p2, s.p98)
                )
                + "</tr>"
                for s in stats
            ),
            "</table>",
        ]
    parts.append("</body></html>")
    return "\n".join(parts)


def dataset_summary(
    path,
    output_html=None,
    output_png=None,
    sample_size: int = DEFAULT_SAMPLE,
    seed: int = 0,
    feedback: Feedback | None = None,
) -> DatasetSummary:
    """``summarize`` and write the requested HTML report and PNG histogram."""
    check_distinct_paths(
        {param("INPUT", "path"): path}, {"OUTPUT_HTML": output_html, "OUTPUT_PNG": output_png}
    )
    for p in (output_html, output_png):
        if p:
            check_output_path(p)
    s = summarize(path, sample_size, seed, feedback)
    png = None
    if s.counts is not None and (output_html or output_png):
        png = histogram_png_bytes(s)
    if output_png:
        if png is None:
            raise LczError(f"'{s.path.name}' has no labels: there is no class histogram")
        with atomic_output(output_png) as tmp:
            tmp.write_bytes(png)
    if output_html:
        write_text_atomic(output_html, html_report(s, png))
    return s
