"""lcz style-map / lcz:stylemap: the LCZ legend style of any LCZ map in a palette and a
language, read back as QGIS reads it (the paletted renderer's colours and labels); the
map itself is left byte for byte as it was."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from helpers import write_raster

from lcz_qgis.cli import main
from lcz_qgis.common.legend import COLOURBLIND, PALETTES, STANDARD

CB = PALETTES[COLOURBLIND]


def palette_of(qml_path) -> dict:
    """{value: (colour, label)} of a paletted .qml."""
    root = ET.parse(qml_path).getroot()
    renderer = root.find("pipe/rasterrenderer")
    assert renderer.get("type") == "paletted"
    return {int(e.get("value")): (e.get("color"), e.get("label"))
            for e in renderer.iter("paletteEntry")}  # fmt: skip


def _map(path, codes=None, gtype="uint8"):
    rng = np.random.default_rng(1)
    codes = rng.integers(1, 18, (20, 30)) if codes is None else codes
    return write_raster(path, codes.astype("float32"), nodata=0, gtype=gtype)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_writes_the_colourblind_style_beside_the_map(tmp_path, capsys):
    m = _map(tmp_path / "city.tif")
    before = _digest(m)
    assert main(["style-map", "--map", str(m), "--palette", "colourblind"]) == 0
    entries = palette_of(tmp_path / "city.qml")
    assert [entries[c][0] for c in range(1, 18)] == list(CB)
    assert entries[17][1] == "LCZ G: Water"
    assert _digest(m) == before  # the map is not touched
    assert "colourblind palette" in capsys.readouterr().out


def test_french_names_old_codes_and_an_output_elsewhere(tmp_path):
    codes = np.array([[1, 2, 101], [107, 0, 10]])  # an older WUDAPT map: A-G = 101-107
    m = _map(tmp_path / "old.tif", codes)
    out = tmp_path / "styles" / "old_fr.qml"
    out.parent.mkdir()
    assert main(["style-map", "--map", str(m), "--language", "fr", "--output", str(out)]) == 0
    entries = palette_of(out)
    assert sorted(entries) == [*range(1, 11), *range(101, 108)]
    assert entries[101] == (PALETTES[STANDARD][10], "LCZ A: Espace densément arboré")
    assert not (tmp_path / "old.qml").exists()


def test_bad_output_and_bad_map_are_one_line_errors(tmp_path, capsys):
    m = _map(tmp_path / "m.tif")
    assert main(["style-map", "--map", str(m), "--output", str(tmp_path / "m.txt")]) == 2
    assert "must be a .qml file" in capsys.readouterr().err
    assert main(["style-map", "--map", str(m), "--output", str(tmp_path / "no" / "m.qml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["style-map", "--map", str(tmp_path), "--palette", "colourblind"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err


@pytest.mark.qgis
def test_processing_run_applies_the_style_to_the_layer(tmp_path, run_alg):
    from qgis.core import QgsProject, QgsRasterLayer

    m = _map(tmp_path / "layer.tif")
    layer = QgsRasterLayer(str(m), "LCZ map")
    assert layer.isValid()
    project = QgsProject.instance()
    project.addMapLayer(layer)
    try:
        res = run_alg("lcz:stylemap", {"MAP": layer.id(), "PALETTE": 1, "LANGUAGE": "fr"})
        assert res["OUTPUT"] == str(tmp_path / "layer.qml")
        renderer = layer.renderer()
        assert renderer.type() == "paletted"
        classes = {c.value: c for c in renderer.classes()}
        assert [classes[v].color.name() for v in range(1, 18)] == list(CB)
        assert classes[3].label == "LCZ 3: Ensemble compact de maisons"
        assert [c[0] for c in palette_of(res["OUTPUT"]).values()] == list(CB)
    finally:
        project.removeMapLayer(layer.id())


@pytest.mark.qgis
def test_processing_language_auto_follows_the_qgis_locale(tmp_path, run_alg):
    from qgis.core import QgsApplication, QgsSettings

    m = _map(tmp_path / "fr.tif")
    settings = QgsSettings()
    saved = [settings.value(k) for k in ("locale/overrideFlag", "locale/userLocale")]
    settings.setValue("locale/overrideFlag", True)
    settings.setValue("locale/userLocale", "fr_FR")
    try:
        assert QgsApplication.locale() == "fr_FR"
        res = run_alg("lcz:stylemap", {"MAP": str(m), "OUTPUT": str(tmp_path / "fr.qml")})
    finally:
        for k, v in zip(("locale/overrideFlag", "locale/userLocale"), saved):
            settings.remove(k) if v is None else settings.setValue(k, v)
    assert palette_of(res["OUTPUT"])[15][1] == "LCZ E: Sol imperméable naturel ou artificiel"
    # the CLI's auto is English
    assert main(["style-map", "--map", str(m)]) == 0
    assert palette_of(tmp_path / "fr.qml")[15][1] == "LCZ E: Bare rock or paved"
