"""Inputs that are not regular files are refused before GDAL or OGR would block on them."""

from __future__ import annotations

import os
import socket

import pytest

from lcz_qgis.common.errors import LczError
from lcz_qgis.common.input_files import check_input_file, is_virtual


def test_regular_file_passes(tmp_path):
    f = tmp_path / "areas.gpkg"
    f.write_bytes(b"x")
    assert check_input_file(f, "training areas") == str(f)


def test_named_pipe_refused_without_blocking(tmp_path):
    fifo = tmp_path / "areas.kml"
    os.mkfifo(fifo)
    with pytest.raises(LczError, match=r"training areas '.*areas\.kml' is a named pipe"):
        check_input_file(fifo, "training areas")


def test_socket_refused(tmp_path):
    path = tmp_path / "s"
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(path))
        with pytest.raises(LczError, match="is a socket"):
            check_input_file(path, "raster")
    finally:
        sock.close()


def test_device_refused():
    with pytest.raises(LczError, match="is a device"):
        check_input_file("/dev/zero", "raster")


def test_folder_refused_unless_allowed(tmp_path):
    with pytest.raises(LczError, match="is a folder, not a file"):
        check_input_file(tmp_path, "raster")
    assert check_input_file(tmp_path, "product", folder_ok=True) == str(tmp_path)


def test_missing_file(tmp_path):
    with pytest.raises(LczError, match="does not exist"):
        check_input_file(tmp_path / "nope.tif", "raster")


@pytest.mark.parametrize("path", ["/vsizip/a.zip/b.tif", "https://example.org/map.tif"])
def test_virtual_paths_left_to_gdal(path):
    assert is_virtual(path)
    assert check_input_file(path) == path
