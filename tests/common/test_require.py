"""A missing optional dependency is named with how to install it (errors.require)."""

from __future__ import annotations

import sys

import pytest

pytestmark = pytest.mark.qgis


def test_missing_dependency_names_the_package(monkeypatch):
    from lcz_qgis.common.errors import MissingDependency, require

    monkeypatch.setitem(sys.modules, "skops", None)
    monkeypatch.setitem(sys.modules, "skops.io", None)
    with pytest.raises(MissingDependency, match="'skops'.*pip install skops"):
        require("skops.io", "skops", "Loading a scikit-learn model")
