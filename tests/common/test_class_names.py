"""The class-name table (lcz_qgis/common/class_names.json): every language has all 17
codes and a source; the legend's names come from it in the run's language."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from lcz_qgis.common import legend

TABLE = Path(legend.__file__).with_name("class_names.json")


def test_every_language_has_all_17_codes_and_a_source():
    table = json.loads(TABLE.read_text("utf-8"))
    assert set(table["names"]) == {str(c) for c in range(1, 18)}
    languages = set(table["sources"])
    assert languages == set(legend.LANGUAGES) and "en" in languages
    for code, names in table["names"].items():
        assert set(names) == languages, code
        assert all(n.strip() == n and n for n in names.values()), code
    for lang in languages:  # no two classes share a name
        assert len({v[lang] for v in table["names"].values()}) == 17, lang


def test_english_names_are_the_legends():
    assert [legend.class_name(c.code, "en") for c in legend.LCZ_CLASSES] == [
        c.name for c in legend.LCZ_CLASSES
    ]


def test_locales_map_to_the_tables_languages():
    assert legend.check_language("fr_FR") == "fr"
    assert legend.check_language("fr-CA") == "fr"
    assert legend.check_language("de_DE") == "en"  # not in the table: English
    assert legend.check_language("auto") == legend.check_language(None) == "en"


def test_a_french_legend_in_a_qml():
    root = ET.fromstring(legend.qml_paletted(language="fr").split("\n", 1)[1])
    labels = {int(e.get("value")): e.get("label") for e in root.iter("paletteEntry")}
    assert labels[1] == "LCZ 1: Ensemble compact de tours"
    assert labels[8] == "LCZ 8: Bâtiments de grande emprise"
    assert labels[17] == "LCZ G: Surface en eau"
    with legend.legend_style(language="fr_BE"):
        assert legend.category_names()[11] == "LCZ A: Espace densément arboré"
    assert legend.category_names()[11] == "LCZ A: Dense trees"
