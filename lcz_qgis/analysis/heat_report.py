"""``heat_island``: the station heat-island job, its self-contained HTML report (plots
drawn with matplotlib on an Agg canvas, embedded as base64 PNG) and its CSV table."""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path

import numpy as np

from ..common.atomic import check_distinct_paths, staged_outputs
from ..common.errors import LczError, param, require
from ..common.feedback import Feedback
from ..common.input_files import check_input_file
from ..common.legend import lcz_class
from .feature_output import csv_text
from .heat_island import heat_island_stats, read_observations, station_classes
from .read_map import open_lcz_map
from .surface_heat import lst_by_lcz

HOURS = np.arange(24)


def _figure(width: float = 8.0, height: float = 3.6):
    """A matplotlib figure on an Agg canvas (no pyplot: safe in a worker thread)."""
    require("matplotlib", "matplotlib", "The heat-island report's plots")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _img(fig, alt: str) -> str:
    """The figure as an ``<img>`` with a base64 PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def intensity_plot(stats: dict, unit: str) -> str:
    """Urban-minus-rural intensity by hour of day."""
    fig = _figure()
    ax = fig.add_subplot()
    ax.axhline(0, color="#888", lw=0.8)
    ax.plot(HOURS, stats["intensity"], "o-", color="#b2182b")
    ax.set(xlabel="hour of day", ylabel=f"urban - rural ({unit})", xticks=range(0, 24, 3),
           title="Heat-island intensity (LCZ 1-10 minus LCZ A-F)")  # fmt: skip
    return _img(fig, "heat-island intensity by hour")


def lcz_hour_plot(stats: dict, unit: str) -> str:
    """Mean by LCZ and hour, one line per LCZ in its legend colour."""
    fig = _figure()
    ax = fig.add_subplot()
    for code, values in sorted(stats["lcz_hour"].items()):
        c = lcz_class(code)
        ax.plot(HOURS, values, "o-", ms=3, color=[v / 255 for v in c.rgb], label=c.label)
    ax.set(xlabel="hour of day", ylabel=f"mean ({unit})", xticks=range(0, 24, 3),
           title="Mean by LCZ and hour of day")  # fmt: skip
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _img(fig, "mean by LCZ and hour")


def anomaly_plot(ids: list[str], stats: dict, unit: str) -> str:
    """Each station's mean anomaly, coloured by its LCZ."""
    fig = _figure(8.0, max(2.0, 0.25 * len(ids) + 1))
    ax = fig.add_subplot()
    colors = [[v / 255 for v in lcz_class(c).rgb] if c else (0.7, 0.7, 0.7) for c in stats["codes"]]
    ax.barh(range(len(ids)), np.nan_to_num(stats["anomaly"]), color=colors, edgecolor="#333")
    ax.set_yticks(range(len(ids)), ids, fontsize=7)
    ax.axvline(0, color="#888", lw=0.8)
    ax.set(xlabel=f"mean anomaly ({unit})", title="Anomaly per station (vs all stations)")
    return _img(fig, "anomaly per station")


def _num(v, digits: int = 2) -> str:
    """A table cell: a rounded number, empty for NaN/None."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    return f"{v:.{digits}f}" if isinstance(v, float) else html.escape(str(v))


def _table(header: list[str], rows: list[list]) -> str:
    """An HTML table."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_num(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _clean(v):
    """A plain Python value: numpy numbers as int/float, NaN as None."""
    if isinstance(v, (np.floating, float)):
        return float(v) if math.isfinite(v) else None
    return int(v) if isinstance(v, np.integer) else v


def hour_rows(stats: dict) -> tuple[list[str], list[dict]]:
    """The table by hour: hour, intensity, urban and rural means, times, mean per LCZ."""
    codes = sorted(stats["lcz_hour"])
    names = ["hour", "intensity", "urban_mean", "rural_mean", "times",
             *(f"lcz_{lcz_class(c).letter}" for c in codes)]  # fmt: skip
    rows = []
    for h in HOURS:
        row = {"hour": int(h), "intensity": stats["intensity"][h], "urban_mean": stats["urban"][h],
               "rural_mean": stats["rural"][h], "times": int(stats["times"][h])}  # fmt: skip
        row.update({f"lcz_{lcz_class(c).letter}": stats["lcz_hour"][c][h] for c in codes})
        rows.append({k: _clean(v) for k, v in row.items()})
    return names, rows


_STYLE = ("body{font-family:sans-serif;margin:1.5em;max-width:1100px;color:#222}"
          "table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;"
          "padding:.2em .5em;text-align:right}th{background:#f0f0f0}img{max-width:100%}"
          ".note{color:#555;font-size:.9em}")  # fmt: skip


def station_sections(series, stats: dict, unit: str, sources: tuple[str, str]) -> str:
    """The report's sections on the station series."""
    names, rows = hour_rows(stats)
    station_rows = [[s, lcz_class(c).label if c else "(no LCZ)", float(a), int(n)]
                    for s, c, a, n in zip(series.ids, stats["codes"], stats["anomaly"],
                                          stats["anomaly_n"])]  # fmt: skip
    first, last = series.times[0], series.times[-1]
    return (
        f"<h1>Air temperature by LCZ and urban heat island</h1><p class='note'>Stations "
        f"{html.escape(sources[0])}; observations {html.escape(sources[1])}: "
        f"{len(series.value)} values, {first} to {last}. Urban = LCZ 1-10 "
        f"({stats['n_urban']} stations), rural = LCZ A-F ({stats['n_rural']}); water (G) "
        "and stations without an LCZ take no part in the intensity. Hours as the times are "
        "written.</p><h2>Urban-minus-rural intensity</h2>"
        + intensity_plot(stats, unit)
        + "<h2>Mean by LCZ and hour of day</h2>"
        + lcz_hour_plot(stats, unit)
        + _table(names, [[r[n] for n in names] for r in rows])
        + "<h2>Anomaly per station</h2><p class='note'>At each time, the station's value "
        "minus the mean of all stations with a value then; averaged over its values.</p>"
        + anomaly_plot(series.ids, stats, unit)
        + _table(["station", "LCZ", f"mean anomaly ({unit})", "values"], station_rows)
    )


def lst_rows(lst: dict) -> tuple[list[str], list[dict]]:
    """The LST table: one row per LCZ with pixels (code, name, pixels, mean, std, minus_d)."""
    names = ["lcz", "name", "pixels", "mean", "std", "minus_d"]
    rows = [{"lcz": lcz_class(c).letter, "name": lcz_class(c).name,
             "pixels": int(lst["pixels"][c]), "mean": _clean(lst["mean"][c]),
             "std": _clean(lst["std"][c]), "minus_d": _clean(lst["minus_d"][c])}
            for c in range(1, 18) if lst["pixels"][c]]  # fmt: skip
    return names, rows


def lst_section(lst: dict, source: str) -> str:
    """The report's section on the land-surface temperature."""
    names, rows = lst_rows(lst)
    fig = _figure()
    ax = fig.add_subplot()
    codes = [c for c in range(1, 18) if lst["pixels"][c]]
    for k, c in enumerate(codes):
        color = [v / 255 for v in lcz_class(c).rgb]
        ax.errorbar(k, lst["mean"][c], yerr=lst["std"][c], fmt="o", ms=8, capsize=4,
                    color=color, mec="#333")  # fmt: skip
    ax.set_xticks(range(len(codes)), [lcz_class(c).letter for c in codes])
    ax.set(xlabel="LCZ", ylabel="LST (the raster's unit)", title="LST by LCZ (mean and std)")
    note = "" if np.isfinite(lst["mean"][14]) else " No pixel of LCZ D: no difference to it."
    return (
        f"<h2>Surface heat island (LST)</h2><p class='note'>{html.escape(source)}: "
        f"{lst['used']} pixels with an LCZ and a value, {lst['masked']} left out by the "
        f"cloud mask. Each pixel takes the LCZ under its centre; minus_d is the LCZ's mean "
        f"minus LCZ D's (low plants).{note}</p>" + _img(fig, "LST by LCZ")
        + _table(names, [[r[n] for n in names] for r in rows])
    )  # fmt: skip


def page(body: str) -> str:
    """The whole self-contained page."""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Heat island</title>"
            f"<style>{_STYLE}</style></head><body>{body}</body></html>")  # fmt: skip


def _check(output, table, lst_table) -> None:
    """An .html report and .csv tables."""
    if Path(str(output)).suffix.lower() not in (".html", ".htm"):
        raise LczError(f"{param('OUTPUT')}: the report is an HTML page; give a .html name")
    for key, path in (("TABLE", table), ("LST_TABLE", lst_table)):
        if path and Path(str(path)).suffix.lower() != ".csv":
            raise LczError(f"{param(key)}: the table is a CSV file; give a .csv name")


def _check_parts(stations, observations, table, lcz_map, lst, mask, lst_table) -> None:
    """Stations with observations, an LST with the map: at least one of the two."""
    if bool(stations) != bool(observations):
        raise LczError(f"{param('STATIONS')} and {param('OBSERVATIONS')} go together")
    if bool(lcz_map) != bool(lst):
        raise LczError(
            f"{param('LST')} needs {param('MAP', 'lcz_map')} (the LCZ map), and the reverse"
        )
    if not stations and not lst:
        raise LczError(f"give {param('STATIONS')} with {param('OBSERVATIONS')}, or "
                       f"{param('LST')} with {param('MAP', 'lcz_map')}, or both")  # fmt: skip
    if table and not stations:
        raise LczError(f"{param('TABLE')} is the stations' table by hour: give the stations")
    if (mask or lst_table) and not lst:
        raise LczError(f"{param('MASK')} and {param('LST_TABLE')} go with {param('LST')}")


def _stations_part(stations, observations, id_field, lcz_field, feedback):
    """(series, stats, unmatched) of the station series."""
    classes = station_classes(stations, id_field, lcz_field)
    series = read_observations(observations)
    unmatched = [s for s in series.ids if s not in classes]
    if unmatched:
        feedback.warning(f"{len(unmatched)} observed stations have no LCZ in the stations "
                         f"layer and take no part: {', '.join(unmatched[:10])}")  # fmt: skip
    return series, heat_island_stats(series, classes), unmatched


def _lst_part(map_path, lst, mask, feedback) -> dict:
    """``lst_by_lcz`` on the map."""
    with open_lcz_map(map_path) as lcz_map:
        result = lst_by_lcz(lcz_map, check_input_file(lst, "LST raster"),
                            mask and check_input_file(mask, "cloud mask"), feedback)  # fmt: skip
    if not mask:
        feedback.warning("no cloud mask: clouds left in the LST are cold pixels that fake a "
                         "heat island; give MASK unless the LST is cloud-free")  # fmt: skip
    return result


def heat_island(stations, observations, output, table=None, id_field: str = "station",
                lcz_field: str = "lcz", unit: str = "°C", lcz_map=None, lst=None, mask=None,
                lst_table=None, feedback: Feedback | None = None) -> dict:  # fmt: skip
    """Air temperature by LCZ and the urban-minus-rural heat island from station series,
    and the surface heat island from an LST raster (either or both).

    Args:
        stations: the stations with their LCZ (``lcz stations``' output, or any layer or
            CSV with an id and an LCZ field); None with the LST only.
        observations: the CSV of ``time``, ``station``, ``value``.
        output: the HTML report; table: an optional CSV by hour of day.
        id_field, lcz_field: the stations' id and LCZ fields.
        unit: the station values' unit (labels only).
        lcz_map, lst, mask, lst_table: the LCZ map, an LST raster, its cloud mask (non-zero
            = left out, on the LST's grid) and an optional CSV of the LST per LCZ.

    Returns:
        {"output", "table", "lst_table", "stats" (``heat_island_stats``) or None, "ids",
        "unmatched": the observed stations without an LCZ, "urban", "rural": their
        stations, "max_intensity", "max_hour" (the largest hourly intensity and its
        hour), "lst" (``lst_by_lcz``) or None}.

    Raises:
        LczError: bad input (named), no urban or rural values at a common time.
    """
    feedback = feedback or Feedback()
    _check(output, table, lst_table)
    _check_parts(stations, observations, table, lcz_map, lst, mask, lst_table)
    check_distinct_paths({"STATIONS": stations, "OBSERVATIONS": observations, "MAP": lcz_map,
                          "LST": lst, "MASK": mask},
                         {"OUTPUT": output, "TABLE": table, "LST_TABLE": lst_table})  # fmt: skip
    out = {"output": str(output), "table": table and str(table), "stats": None, "ids": [],
           "unmatched": [], "urban": 0, "rural": 0, "max_intensity": None, "max_hour": None,
           "lst_table": lst_table and str(lst_table), "lst": None}  # fmt: skip
    body = ""
    if stations:
        series, stats, unmatched = _stations_part(stations, observations, id_field,
                                                  lcz_field, feedback)  # fmt: skip
        hour = int(np.nanargmax(stats["intensity"]))
        out.update(stats=stats, ids=series.ids, unmatched=unmatched, urban=stats["n_urban"],
                   rural=stats["n_rural"], max_intensity=float(stats["intensity"][hour]),
                   max_hour=hour)  # fmt: skip
        body += station_sections(series, stats, unit, (str(stations), str(observations)))
    feedback.progress(50.0)
    if lst:
        out["lst"] = _lst_part(lcz_map, lst, mask, feedback)
        body += lst_section(out["lst"], str(lst))
    with staged_outputs(feedback) as st:
        st.write_text(output, page(body))
        if table:
            st.write_text(table, csv_text(*hour_rows(out["stats"])))
        if lst_table:
            st.write_text(lst_table, csv_text(*lst_rows(out["lst"])))
    return out
