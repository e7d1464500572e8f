"""Fixtures of the training-areas tests."""

from __future__ import annotations

import pytest
from helpers import write_areas_file

from lcz_qgis.sample_data import write_scene


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """The synthetic sample city (seed 7) and its training areas (areas.gpkg), one per
    test module."""
    d = tmp_path_factory.mktemp("city")
    write_scene(d, 7)
    write_areas_file(d / "areas.gpkg")
    return d
