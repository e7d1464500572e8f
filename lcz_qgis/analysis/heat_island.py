"""Air temperature by LCZ from weather-station series, and the urban heat island.

Stations carry their LCZ (``lcz stations`` writes it); observations are a CSV with the
columns ``time`` (ISO 8601), ``station`` (the stations' id) and ``value`` (air
temperature, e.g. degC). The hour of day is the hour as the times are written (local
time if the times are local); no time zone is converted.

- **Mean by LCZ and hour**: each station's mean per hour of day, then the mean over the
  LCZ's stations (every station counts once, however many values it has).
- **Anomaly per station**: at each time, the station's value minus the mean of all
  stations with a value then; the station's anomaly is the mean of those.
- **Urban-minus-rural intensity**: at each time with at least one urban and one rural
  value, the mean of the urban stations minus the mean of the rural ones; per hour of
  day, the mean over those times. Urban = LCZ 1-10, rural = LCZ 11-16 (A-F); water
  (LCZ 17, G) and stations without an LCZ take no part in it.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from ..common.errors import LczError, first_line, param
from ..common.input_files import check_input_file
from .stations import read_stations

URBAN = tuple(range(1, 11))
RURAL = tuple(range(11, 17))
COLUMNS = ("time", "station", "value")


@dataclass
class Series:
    """Observations as parallel arrays (one entry per value).

    Attributes:
        station: index into ``ids`` of each value.
        time: index into ``times`` of each value.
        value: the values (float64).
        ids: the station ids, in order of first appearance.
        times: the distinct times, sorted.
    """

    station: np.ndarray
    time: np.ndarray
    value: np.ndarray
    ids: list[str]
    times: list[dt.datetime]

    @property
    def hour(self) -> np.ndarray:
        """The hour of day (0-23) of each value."""
        hours = np.array([t.hour for t in self.times], np.int64)
        return hours[self.time]


def _parse_time(text: str, path, line: int) -> dt.datetime:
    """An ISO 8601 time ("2024-07-01 13:00", "2024-07-01T13:00:00Z")."""
    try:
        return dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise LczError(f"the observations '{path}', line {line}: time '{text}' is not an "
                       "ISO 8601 time (e.g. 2024-07-01 13:00)") from None  # fmt: skip


def _header(reader, path) -> dict:
    """The column of each of ``COLUMNS`` (case-insensitive)."""
    lower = {h.strip().lower(): h for h in reader.fieldnames or []}
    missing = [c for c in COLUMNS if c not in lower]
    if missing:
        raise LczError(f"the observations '{path}' need the columns time, station, value "
                       f"(missing: {', '.join(missing)})")  # fmt: skip
    return {c: lower[c] for c in COLUMNS}


def _value(text, path, line: int) -> float:
    """A value: a number, or NaN when empty or NA (left out later)."""
    t = (text or "").strip()
    if t.lower() in ("", "na", "nan", "null"):
        return math.nan
    try:
        return float(t)
    except ValueError:
        raise LczError(f"the observations '{path}', line {line}: value '{t}' is not a "
                       "number") from None  # fmt: skip


def read_observations(path) -> Series:
    """The observations CSV (missing values left out).

    Raises:
        LczError: unreadable, columns missing, bad times or values, no value.
    """
    p = check_input_file(path, "observations")
    stations, times, values = [], [], []
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            col = _header(reader, p)
            for i, row in enumerate(reader):
                v = _value(row[col["value"]], p, i + 2)
                if math.isfinite(v):
                    stations.append(str(row[col["station"]]).strip())
                    times.append(_parse_time(row[col["time"]] or "", p, i + 2))
                    values.append(v)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LczError(f"cannot read the observations '{p}': {first_line(exc)}") from None
    if not values:
        raise LczError(f"the observations '{p}' hold no value")
    ids = list(dict.fromkeys(stations))
    distinct = sorted(set(times))
    where = {t: k for k, t in enumerate(distinct)}
    index = {s: k for k, s in enumerate(ids)}
    return Series(np.array([index[s] for s in stations]), np.array([where[t] for t in times]),
                  np.array(values, np.float64), ids, distinct)  # fmt: skip


def station_classes(path, id_field: str, lcz_field: str) -> dict[str, int]:
    """{station id: LCZ code 1-17} of a stations layer (stations without an LCZ left out).

    Raises:
        LczError: the id or LCZ field is missing.
    """
    layer = read_stations(path)
    names = {n.lower(): n for n, _ in layer.fields}
    for key, name in (("ID_FIELD", id_field), ("LCZ_FIELD", lcz_field)):
        if name.lower() not in names:
            raise LczError(f"{param(key)} '{name}': the stations '{path}' have no such field "
                           f"(they have {', '.join(names.values())})")  # fmt: skip
    out = {}
    for attrs in layer.attributes:
        code = attrs.get(names[lcz_field.lower()])
        if code in (None, ""):
            continue
        try:
            value = float(code)
        except ValueError:
            raise LczError(f"{param('LCZ_FIELD')} '{lcz_field}': '{code}' is not an LCZ code "
                           "(1-17)") from None  # fmt: skip
        if value in range(1, 18):
            out[str(attrs.get(names[id_field.lower()])).strip()] = int(value)
    return out


def _group_mean(series: Series, members: np.ndarray) -> np.ndarray:
    """(T,) the mean, at each time, of the values of the stations in ``members`` (NaN
    where none has a value)."""
    keep = members[series.station]
    total = np.bincount(series.time[keep], series.value[keep], minlength=len(series.times))
    count = np.bincount(series.time[keep], minlength=len(series.times))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def by_hour(values: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """(24,) the mean of the finite ``values`` per hour of day (NaN where none)."""
    ok = np.isfinite(values)
    total = np.bincount(hours[ok], values[ok], minlength=24)
    count = np.bincount(hours[ok], minlength=24)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _station_hours(series: Series) -> np.ndarray:
    """(S, 24) each station's mean per hour of day (NaN where it has no value)."""
    hours = series.hour
    out = np.full((len(series.ids), 24), np.nan)
    for s in range(len(series.ids)):
        mine = series.station == s
        out[s] = by_hour(series.value[mine], hours[mine])
    return out


def _nanmean_rows(rows: np.ndarray) -> np.ndarray:
    """The mean of each column over the rows with a value (NaN where none)."""
    ok = np.isfinite(rows)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok.any(0), np.where(ok, rows, 0).sum(0) / ok.sum(0), np.nan)


def heat_island_stats(series: Series, classes: dict[str, int]) -> dict:
    """The statistics of the module's docstring.

    Returns:
        {"codes": (S,) LCZ of each station (0 unknown), "lcz_hour": {code: (24,)},
        "anomaly": (S,) mean anomaly, "anomaly_n": (S,) values, "intensity": (24,),
        "urban": (24,), "rural": (24,), "times": (24,) times with both groups,
        "n_urban", "n_rural": stations with values}.

    Raises:
        LczError: no urban or no rural station with values at a common time.
    """
    codes = np.array([classes.get(s, 0) for s in series.ids], np.int64)
    station_hour = _station_hours(series)
    lcz_hour = {int(c): _nanmean_rows(station_hour[codes == c]) for c in np.unique(codes) if c}
    everyone = _group_mean(series, codes > 0)
    anomalies = series.value - everyone[series.time]
    counted = codes[series.station] > 0
    n = np.bincount(series.station[counted], minlength=len(series.ids))
    total = np.bincount(series.station[counted], anomalies[counted], minlength=len(series.ids))
    with np.errstate(invalid="ignore", divide="ignore"):
        anomaly = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    urban = _group_mean(series, np.isin(codes, URBAN))
    rural = _group_mean(series, np.isin(codes, RURAL))
    both = np.isfinite(urban) & np.isfinite(rural)
    if not both.any():
        raise LczError("no time has both an urban (LCZ 1-10) and a rural (LCZ A-F) station "
                       "value: the intensity needs both")  # fmt: skip
    hours = np.array([t.hour for t in series.times], np.int64)
    return {
        "codes": codes, "lcz_hour": lcz_hour, "anomaly": anomaly, "anomaly_n": n,
        "intensity": by_hour(np.where(both, urban - rural, np.nan), hours),
        "urban": by_hour(np.where(both, urban, np.nan), hours),
        "rural": by_hour(np.where(both, rural, np.nan), hours),
        "times": np.bincount(hours[both], minlength=24),
        "n_urban": int(np.isin(codes, URBAN).sum()), "n_rural": int(np.isin(codes, RURAL).sum()),
    }  # fmt: skip
