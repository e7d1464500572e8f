"""analysis.heat_island / heat_report: air temperature by LCZ and the urban heat island
from generated station series with a known answer (urban stations 2 degC warmer at
night, 0.5 by day), every number recomputed from the series by the test's own loops."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import re
from collections import defaultdict

import numpy as np
import pytest
from helpers import write_raster
from osgeo import osr

from lcz_qgis.analysis.heat_island import read_observations
from lcz_qgis.analysis.heat_report import heat_island
from lcz_qgis.cli import main
from lcz_qgis.common.errors import LczError

NIGHT = set(range(0, 6)) | {20, 21, 22, 23}
# station: (LCZ, offset above the shared base at night, by day); None: no LCZ
STATIONS = {"U1": (2, 2.0, 0.5), "U2": (5, 2.0, 0.5), "U3": (6, 2.0, 0.5),
            "R1": (14, 0.0, 0.0), "R2": (11, 0.0, 0.0),
            "W1": (17, 9.0, 9.0), "X1": (None, 5.0, 5.0)}  # fmt: skip


def _stations_csv(path):
    lines = ["station,lon,lat,lcz"]
    lines += [f"{s},11.5,48.1,{'' if c is None else c}" for s, (c, _, _) in STATIONS.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _series(path, days=4, seed=0, missing=0.15):
    """Hourly values: a base shared by all stations at each time (a daily cycle plus
    noise) plus each station's offset; some values missing (empty or no row)."""
    rng = np.random.default_rng(seed)
    rows = [("time", "station", "value")]
    t0 = dt.datetime(2024, 7, 1)
    for k in range(24 * days):
        t = t0 + dt.timedelta(hours=k)
        base = 18 + 8 * np.sin((t.hour - 9) / 24 * 2 * np.pi) + rng.normal(0, 1)
        for s, (_, night, day) in STATIONS.items():
            if s not in ("U1", "R1") and rng.random() < missing:
                value = "" if rng.random() < 0.5 else None  # empty, or no row at all
            else:
                value = f"{base + (night if t.hour in NIGHT else day):.4f}"
            if value is not None:
                rows.append((t.isoformat(sep=" "), s, value))
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def _rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _recompute(obs_path):
    """The report's numbers by plain loops over the CSV."""
    values = defaultdict(dict)  # time -> station -> value
    for r in _rows(obs_path):
        if r["value"]:
            values[dt.datetime.fromisoformat(r["time"])][r["station"]] = float(r["value"])
    lcz = {s: c for s, (c, _, _) in STATIONS.items() if c}
    intensity, st_hour, anomalies = defaultdict(list), defaultdict(list), defaultdict(list)
    for t, by in values.items():
        urban = [v for s, v in by.items() if lcz.get(s, 0) in range(1, 11)]
        rural = [v for s, v in by.items() if lcz.get(s, 0) in range(11, 17)]
        if urban and rural:
            intensity[t.hour].append(np.mean(urban) - np.mean(rural))
        everyone = np.mean([v for s, v in by.items() if s in lcz])
        for s, v in by.items():
            st_hour[(s, t.hour)].append(v)
            if s in lcz:
                anomalies[s].append(v - everyone)
    by_lcz = defaultdict(list)
    for (s, h), vs in st_hour.items():
        if s in lcz:
            by_lcz[(lcz[s], h)].append(np.mean(vs))
    return ({h: np.mean(v) for h, v in intensity.items()},
            {k: np.mean(v) for k, v in by_lcz.items()},
            {s: np.mean(v) for s, v in anomalies.items()})  # fmt: skip


def test_known_heat_island_is_recovered_and_every_number_recomputed(tmp_path):
    obs = _series(tmp_path / "t.csv")
    result = heat_island(_stations_csv(tmp_path / "s.csv"), obs, tmp_path / "r.html",
                         table=tmp_path / "i.csv")  # fmt: skip
    stats = result["stats"]
    # the known answer: 2 degC at night, 0.5 by day (water and the unclassified station
    # would spoil it if they took part)
    for h in range(24):
        assert stats["intensity"][h] == pytest.approx(2.0 if h in NIGHT else 0.5, abs=1e-9)
    intensity, by_lcz, anomaly = _recompute(obs)
    np.testing.assert_allclose(stats["intensity"], [intensity[h] for h in range(24)])
    for (code, h), v in by_lcz.items():
        assert stats["lcz_hour"][code][h] == pytest.approx(v), (code, h)
    for s, v in anomaly.items():
        assert stats["anomaly"][result["ids"].index(s)] == pytest.approx(v), s
    assert result["unmatched"] == ["X1"] and (stats["n_urban"], stats["n_rural"]) == (3, 2)
    assert result["max_intensity"] == pytest.approx(2.0) and result["max_hour"] in NIGHT
    # the table by hour holds the same numbers
    rows = _rows(tmp_path / "i.csv")
    assert [int(r["hour"]) for r in rows] == list(range(24))
    assert list(rows[0])[5:] == ["lcz_2", "lcz_5", "lcz_6", "lcz_A", "lcz_D", "lcz_G"]
    for r in rows:
        h = int(r["hour"])
        assert float(r["intensity"]) == pytest.approx(intensity[h], abs=1e-8)
        assert float(r["lcz_G"]) == pytest.approx(by_lcz[(17, h)], abs=1e-7)


def test_report_is_one_self_contained_page(tmp_path):
    obs = _series(tmp_path / "t.csv", days=2)
    heat_island(_stations_csv(tmp_path / "s.csv"), obs, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 3 and all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing fetched from elsewhere
    assert "Urban-minus-rural intensity" in page and "Anomaly per station" in page


def test_the_chain_from_the_map_through_the_cli(tmp_path, capsys):
    """lcz stations writes the LCZ the heat-island command reads."""
    codes = np.full((20, 20), 14, np.uint8)
    codes[:, :10] = 2
    gt = (690000.0, 100.0, 0.0, 5340000.0, 0.0, -100.0)
    lcz_map = write_raster(tmp_path / "map.tif", codes, gt=gt, gtype="uint8")
    (tmp_path / "st.csv").write_text(
        "station,x,y\nU1,690500,5339000\nU2,690300,5338500\nR1,691500,5339000\nR2,691700,5338500\n"
    )
    st = tmp_path / "st.gpkg"
    assert main(["stations", "--map", str(lcz_map), "--stations", str(tmp_path / "st.csv"),
                 "--crs", "EPSG:32632", "--output", str(st)]) == 0  # fmt: skip
    lines = ["time,station,value"]
    for k in range(48):
        t = dt.datetime(2024, 1, 1) + dt.timedelta(hours=k)
        d = 2.0 if t.hour in NIGHT else 0.5
        lines += [f"{t.isoformat()},{s},{10 + k % 5 + (d if s[0] == 'U' else 0)}"
                  for s in ("U1", "U2", "R1", "R2")]  # fmt: skip
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    rc = main(["heat-island", "--stations", str(st), "--observations", str(tmp_path / "t.csv"),
               "--output", str(tmp_path / "r.html"), "--table", str(tmp_path / "i.csv")])  # fmt: skip
    out = capsys.readouterr().out.strip()
    assert rc == 0 and out.startswith("2 urban and 2 rural stations; intensity at most 2.00")
    rows = _rows(tmp_path / "i.csv")
    assert [float(r["intensity"]) for r in rows] == [2.0 if h in NIGHT else 0.5 for h in range(24)]
    rc = main(["heat-island", "--stations", str(st), "--observations", str(tmp_path / "t.csv"),
               "--lcz-field", "zone", "--output", str(tmp_path / "r.html")])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--lcz-field 'zone'" in err[0]


def test_bad_input_is_refused_and_an_existing_report_kept(tmp_path):
    stations = _stations_csv(tmp_path / "s.csv")
    out = tmp_path / "r.html"
    out.write_text("an earlier report")
    before = hashlib.sha256(out.read_bytes()).hexdigest()
    bad = tmp_path / "bad.csv"
    bad.write_text("when,station,value\n2024-07-01 00:00,U1,20\n")
    with pytest.raises(LczError, match="need the columns time, station, value"):
        heat_island(stations, bad, out)
    bad.write_text("time,station,value\nyesterday,U1,20\n")
    with pytest.raises(LczError, match="line 2: time 'yesterday' is not an ISO 8601"):
        heat_island(stations, bad, out)
    bad.write_text("time,station,value\n2024-07-01 00:00,U1,warm\n")
    with pytest.raises(LczError, match="value 'warm' is not a number"):
        heat_island(stations, bad, out)
    bad.write_text("time,station,value\n2024-07-01 00:00,U1,20\n2024-07-01 00:00,W1,20\n")
    with pytest.raises(LczError, match="both an urban .* and a rural"):
        heat_island(stations, bad, out)
    (tmp_path / "named.csv").write_text("station,lon,lat,lcz\nU1,11.5,48.1,compact\n")
    with pytest.raises(LczError, match="'compact' is not an LCZ code"):
        heat_island(tmp_path / "named.csv", _series(tmp_path / "t.csv", days=1), out)
    with pytest.raises(LczError, match="give a .html name"):
        heat_island(stations, _series(tmp_path / "t.csv", days=1), tmp_path / "r.pdf")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == before


def test_observations_keep_times_as_written(tmp_path):
    """Hours are those written (no time-zone conversion); times with a zone are read."""
    p = tmp_path / "t.csv"
    p.write_text("TIME,Station,Value\n2024-07-01T23:30:00+02:00,A,1\n2024-07-01T05:00Z,B,\n")
    series = read_observations(p)
    assert series.ids == ["A"] and series.hour.tolist() == [23]


def test_processing_run(tmp_path, run_alg):
    obs = _series(tmp_path / "t.csv", days=2)
    res = run_alg("lcz:heatisland", {"STATIONS": str(_stations_csv(tmp_path / "s.csv")),
                                     "OBSERVATIONS": str(obs),
                                     "OUTPUT": str(tmp_path / "r.html"),
                                     "TABLE": str(tmp_path / "i.csv")})  # fmt: skip
    assert res["OUTPUT"] == str(tmp_path / "r.html") and (tmp_path / "r.html").stat().st_size
    rows = _rows(res["TABLE"])
    assert float(rows[2]["intensity"]) == pytest.approx(2.0)
    assert float(rows[12]["intensity"]) == pytest.approx(0.5)


def test_qgis_process_runs_stations_then_heat_island(tmp_path, qgis_process):
    """Both algorithms through qgis_process, the stations layer of one read by the other."""
    codes = np.full((20, 20), 11, np.uint8)
    codes[:, :10] = 3
    gt = (690000.0, 100.0, 0.0, 5340000.0, 0.0, -100.0)
    lcz_map = write_raster(tmp_path / "map.tif", codes, gt=gt, gtype="uint8")
    (tmp_path / "st.csv").write_text("station,x,y\nU1,690500,5339000\nR1,691500,5339000\n")
    st = tmp_path / "st.gpkg"
    r = qgis_process("run", "lcz:stationzones", "--", f"MAP={lcz_map}",
                     f"STATIONS={tmp_path / 'st.csv'}", "CRS=EPSG:32632", f"OUTPUT={st}")  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    lines = ["time,station,value"]
    for h in range(24):
        lines += [f"2024-01-01 {h:02d}:00,U1,{12 + (2 if h in NIGHT else 0.5)}",
                  f"2024-01-01 {h:02d}:00,R1,12"]  # fmt: skip
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    r = qgis_process("run", "lcz:heatisland", "--", f"STATIONS={st}",
                     f"OBSERVATIONS={tmp_path / 't.csv'}", f"OUTPUT={tmp_path / 'r.html'}",
                     f"TABLE={tmp_path / 'i.csv'}")  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    got = [float(row["intensity"]) for row in _rows(tmp_path / "i.csv")]
    assert got == [2.0 if h in NIGHT else 0.5 for h in range(24)]


# -- the surface heat island from an LST raster -------------------------------------------

MAP_GT = (690000.0, 100.0, 0.0, 5340000.0, 0.0, -100.0)


def _lst_case(tmp_path, seed=3):
    """An LCZ map (UTM, 100 m) and an LST raster in EPSG:4326 (another grid): built cells
    4 K warmer than low plants; a cloud of cold pixels over the city, flagged in a mask."""
    rng = np.random.default_rng(seed)
    codes = np.full((40, 40), 14, np.uint8)  # D
    codes[10:30, 10:30] = 2
    codes[15:20, 15:20] = 17  # a lake in town
    codes[0:3, :] = 0
    lcz_map = write_raster(tmp_path / "map.tif", codes, gt=MAP_GT, gtype="uint8", nodata=0)
    ct = osr.CoordinateTransformation(*_srs(32632, 4326))
    w, n = ct.TransformPoint(MAP_GT[0] + 300, MAP_GT[3] - 200)[:2]
    gt = (w, 0.0007, 0.0, n, 0.0, -0.0005)
    h, wd = 70, 45
    rows, cols = np.mgrid[0:h, 0:wd] + 0.5
    back = osr.CoordinateTransformation(*_srs(4326, 32632))
    under = np.zeros((h, wd), int)
    for r in range(h):
        for c in range(wd):
            x, y = back.TransformPoint(gt[0] + cols[r, c] * gt[1], gt[3] + rows[r, c] * gt[5])[:2]
            i, j = int(np.floor((MAP_GT[3] - y) / 100)), int(np.floor((x - MAP_GT[0]) / 100))
            under[r, c] = codes[i, j] if 0 <= i < 40 and 0 <= j < 40 else 0
    lst = 300 + np.where(under == 2, 4.0, 0.0) - np.where(under == 17, 3.0, 0.0)
    lst = lst + rng.normal(0, 0.5, lst.shape)
    cloud = np.zeros((h, wd), np.uint8)
    cloud[20:35, 10:30] = 1
    lst[cloud == 1] = 275.0  # cold cloud tops
    lst[0, 0] = np.nan
    lst_path = write_raster(tmp_path / "lst.tif", lst.astype(np.float32), gt=gt, epsg=4326)
    mask = write_raster(tmp_path / "clouds.tif", cloud, gt=gt, epsg=4326, gtype="uint8")
    return lcz_map, lst_path, mask, under, lst.astype(np.float32), cloud


def _srs(a, b):
    out = []
    for epsg in (a, b):
        s = osr.SpatialReference()
        s.ImportFromEPSG(epsg)
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        out.append(s)
    return out


def test_lst_by_lcz_masks_clouds_and_recomputes(tmp_path):
    lcz_map, lst, mask, under, values, cloud = _lst_case(tmp_path)
    out = tmp_path / "r.html"
    result = heat_island(None, None, out, lcz_map=lcz_map, lst=lst, mask=mask,
                         lst_table=tmp_path / "lst.csv")["lst"]  # fmt: skip
    ok = np.isfinite(values) & (cloud == 0) & (under > 0)
    for code in (2, 14, 17):
        v = values[ok & (under == code)].astype(np.float64)
        assert result["pixels"][code] == len(v) > 10
        assert result["mean"][code] == pytest.approx(v.mean(), abs=1e-6)
        assert result["std"][code] == pytest.approx(v.std(), abs=1e-5)
    assert result["masked"] == int((cloud == 1)[np.isfinite(values)].sum())
    # the known answer: compact mid-rise 4 K above low plants, the lake 3 K below
    assert result["minus_d"][2] == pytest.approx(4.0, abs=0.2)
    assert result["minus_d"][17] == pytest.approx(-3.0, abs=0.3)
    rows = {r["lcz"]: r for r in _rows(tmp_path / "lst.csv")}
    assert set(rows) == {"2", "D", "G"} and float(rows["D"]["minus_d"]) == 0.0
    assert float(rows["2"]["mean"]) == pytest.approx(result["mean"][2])
    assert "Surface heat island (LST)" in out.read_text()
    # without the mask the cold cloud tops over the city hide its heat island
    unmasked = heat_island(None, None, tmp_path / "r2.html", lcz_map=lcz_map, lst=lst)["lst"]
    assert unmasked["minus_d"][2] < 2.0 and unmasked["masked"] == 0


def test_lst_requests_are_checked(tmp_path):
    lcz_map, lst, mask, *_ = _lst_case(tmp_path)
    out = tmp_path / "r.html"
    with pytest.raises(LczError, match="lst needs lcz_map"):
        heat_island(None, None, out, lst=lst)
    with pytest.raises(LczError, match="or both"):
        heat_island(None, None, out)
    with pytest.raises(LczError, match="table is the stations' table"):
        heat_island(None, None, out, table=tmp_path / "t.csv", lcz_map=lcz_map, lst=lst)
    other = write_raster(tmp_path / "m2.tif", np.zeros((5, 5), np.uint8), gt=MAP_GT,
                         gtype="uint8")  # fmt: skip
    with pytest.raises(LczError, match="not on the LST raster's grid"):
        heat_island(None, None, out, lcz_map=lcz_map, lst=lst, mask=other)
    assert not out.exists()


def test_lst_through_the_cli_and_processing(tmp_path, capsys, run_alg):
    lcz_map, lst, mask, *_ = _lst_case(tmp_path)
    out, table = tmp_path / "r.html", tmp_path / "lst.csv"
    rc = main(["heat-island", "--map", str(lcz_map), "--lst", str(lst), "--mask", str(mask),
               "--output", str(out), "--lst-table", str(table)])  # fmt: skip
    printed = capsys.readouterr().out.strip()
    assert rc == 0 and re.fullmatch(rf"LST: \d+ pixels, 300 masked: {out} and {table}", printed)
    rc = main(["heat-island", "--lst", str(lst), "--output", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--lst needs --map" in err[0]
    res = run_alg("lcz:heatisland", {"MAP": str(lcz_map), "LST": str(lst), "MASK": str(mask),
                                     "OUTPUT": str(tmp_path / "q.html"),
                                     "LST_TABLE": str(tmp_path / "q.csv")})  # fmt: skip
    rows = {r["lcz"]: r for r in _rows(res["LST_TABLE"])}
    assert float(rows["2"]["minus_d"]) == pytest.approx(4.0, abs=0.2)
