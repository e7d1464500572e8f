"""The one BANDS grammar (common.bands.band_items) and what each parameter makes of it."""

from __future__ import annotations

import pytest

from lcz_qgis.common.bands import BandItem, band_items, parse_bands
from lcz_qgis.common.errors import LczError
from lcz_qgis.products.render import parse_band_mapping


def test_items_names_numbers_ranges_and_pairs():
    assert band_items("B4=3; b8 = 4") == [BandItem("B4", 3), BandItem("b8", 4)]
    assert band_items("1-3, 9") == [BandItem(None, n) for n in (1, 2, 3, 9)]
    assert band_items("B2,B8A,VH") == [
        BandItem("B2", None),
        BandItem("B8A", None),
        BandItem("VH", None),
    ]
    assert band_items([5, "6"]) == [BandItem(None, 5), BandItem(None, 6)]
    assert band_items("") == [] and band_items(None) == []


@pytest.mark.parametrize("bad", ["B4=x", "=3", "4-1", "B 4", "3.5", "B4=3=2"])
def test_items_that_are_not_in_the_grammar_are_refused_with_it(bad):
    with pytest.raises(LczError, match="band"):
        band_items(bad)


def test_a_selection_takes_names_numbers_and_ranges_but_not_pairs():
    assert parse_bands("B2,B3,B4,B8", "sen2") == [0, 1, 2, 6]
    assert parse_bands("1-3,9", "sen2") == [0, 1, 2, 8]
    assert parse_bands("5,6", "sen1") == [4, 5]
    with pytest.raises(LczError, match="select channels"):
        parse_bands("B4=3", "sen2")
    with pytest.raises(LczError, match="out of range"):
        parse_bands("11", "sen2")
    with pytest.raises(LczError, match="repeats"):
        parse_bands("B2,1", "sen2")


def test_a_mapping_takes_pairs_names_in_order_or_numbers_in_so2sat_order():
    assert parse_band_mapping("B4=3,B8=4", 4) == {"B4": 2, "B8": 3}
    assert parse_band_mapping("B2,B3,B4,B8", 4) == {"B2": 0, "B3": 1, "B4": 2, "B8": 3}
    so2sat = parse_band_mapping("2,3,4,5,6,7,8,9,12,13", 13)
    assert so2sat["B2"] == 1 and so2sat["B8"] == 7 and so2sat["B12"] == 12
    with pytest.raises(LczError, match="So2Sat order"):
        parse_band_mapping("3,2,1", 4)
    with pytest.raises(LczError, match="bands 1-4"):
        parse_band_mapping("B4=5", 4)
