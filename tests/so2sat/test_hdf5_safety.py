"""Hostile and odd HDF5 files: one clear error, never a traceback or silently wrong data.

Each file is crafted with h5py: links out of the file or nowhere, non-numeric values,
datasets that claim a billion rows, virtual datasets and external storage that would read
other files' bytes, damaged and truncated files. Each is refused with a one-line
``LczError`` naming the file and the dataset, by the core (``So2SatFile``, ``So2SatGeo``)
and by the CLI commands that read So2Sat files (summary, patches, evaluate, train).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest

from lcz_qgis.cli import main
from lcz_qgis.common.errors import LczError
from lcz_qgis.sample_data import write_so2sat_file
from lcz_qgis.so2sat import file as so2sat
from lcz_qgis.so2sat.batches import PatchReader, SequentialBatches, _raw_offset
from lcz_qgis.so2sat.file import So2SatFile
from lcz_qgis.so2sat.geo import So2SatGeo

N = 6
SECRET = b"SECRET-BYTES-OF-ANOTHER-FILE!!!!"  # 32 bytes, recognisable in any output
BILLION = 10**9


def _images(f, skip=()):
    rng = np.random.default_rng(0)
    if "sen1" not in skip:
        f["sen1"] = rng.random((N, 32, 32, 8))
    if "sen2" not in skip:
        f["sen2"] = rng.random((N, 32, 32, 10)) * 0.3
    if "label" not in skip:
        f["label"] = np.eye(17)[np.arange(N) % 17]


# -- the crafted files: builder(f, folder) and what the message must say ----------------------


def external_link_passwd(f, d):
    _images(f, skip=("sen2",))
    f["sen2"] = h5py.ExternalLink("/etc/passwd", "/x")


def external_link_h5(f, d):
    with h5py.File(d / "secret.h5", "w") as g:
        g["x"] = np.full((N, 32, 32, 10), 7.0)
    _images(f, skip=("sen2",))
    f["sen2"] = h5py.ExternalLink(str(d / "secret.h5"), "/x")


def soft_link_through_external(f, d):
    with h5py.File(d / "secret.h5", "w") as g:
        g.create_group("grp")["x"] = np.full((N, 17), 1.0)
    _images(f, skip=("label",))
    f["elsewhere"] = h5py.ExternalLink(str(d / "secret.h5"), "/grp")
    f["label"] = h5py.SoftLink("/elsewhere/x")


def soft_link_loop(f, d):
    _images(f, skip=("sen2",))
    f["sen2"] = h5py.SoftLink("/other")
    f["other"] = h5py.SoftLink("/sen2")


def dangling_soft_link(f, d):
    _images(f, skip=("label",))
    f["label"] = h5py.SoftLink("/gone")


def string_labels(f, d):
    _images(f, skip=("label",))
    f["label"] = np.array([[b"LCZ1"] * 17] * N)


def vlen_labels(f, d):
    _images(f, skip=("label",))
    f.create_dataset("label", (N, 17), dtype=h5py.vlen_dtype("f8"))


def compound_labels(f, d):
    _images(f, skip=("label",))
    f["label"] = np.zeros((N, 17), dtype=[("a", "f8"), ("b", "i4")])


def bool_labels(f, d):
    _images(f, skip=("label",))
    f["label"] = np.eye(17, dtype=bool)[np.arange(N)]


def complex_sen2(f, d):
    _images(f, skip=("sen2",))
    f["sen2"] = np.zeros((N, 32, 32, 10), np.complex128)


def int8_sen2(f, d):  # reflectance * 100 squeezed into int8: silently wrong before
    _images(f, skip=("sen2",))
    f["sen2"] = np.full((N, 32, 32, 10), 12, np.int8)


def int8_sen1(f, d):
    _images(f, skip=("sen1",))
    f["sen1"] = np.ones((N, 32, 32, 8), np.int8)


def uint16_sen2(f, d):  # DN in uint16: integers too
    _images(f, skip=("sen2",))
    f["sen2"] = np.full((N, 32, 32, 10), 1200, np.uint16)


def float16_sen2(f, d):
    _images(f, skip=("sen2",))
    f["sen2"] = np.full((N, 32, 32, 10), 0.12, np.float16)


def float128_labels(f, d):
    _images(f, skip=("label",))
    f["label"] = np.eye(17, dtype=np.longdouble)[np.arange(N) % 17]


def billion_rows(f, d):  # declared, never written: reads would be fill values
    f.create_dataset("sen1", (BILLION, 32, 32, 8), "f8")
    f.create_dataset("sen2", (BILLION, 32, 32, 10), "f8")
    f.create_dataset("label", (BILLION, 17), "f8")


def billion_rows_resized(f, d):  # a resizable chunked file grown to 1e9 rows, 6 written
    for key, shape in (("sen2", (32, 32, 10)), ("label", (17,))):
        ds = f.create_dataset(key, (N, *shape), "f8", maxshape=(None, *shape), chunks=(1, *shape))
        ds[:] = 1.0 if key == "sen2" else np.eye(17)[:N]
        ds.resize(BILLION, axis=0)


def billion_labels(f, d):  # images fine, labels claim 1e9 rows (no data)
    _images(f, skip=("label",))
    f.create_dataset("label", (BILLION, 17), "f8")


def virtual_missing_source(f, d):
    _images(f, skip=("sen2",))
    layout = h5py.VirtualLayout((N, 32, 32, 10), "f8")
    layout[:] = h5py.VirtualSource(str(d / "missing.h5"), "x", shape=(N, 32, 32, 10))
    f.create_virtual_dataset("sen2", layout, fillvalue=0)


def external_storage(f, d):
    size = N * 32 * 32 * 10 * 8
    (d / "secret.bin").write_bytes(SECRET * (size // len(SECRET)))
    _images(f, skip=("sen2",))
    f.create_dataset("sen2", (N, 32, 32, 10), "f8", external=[(str(d / "secret.bin"), 0, size)])


def empty_dataspace(f, d):
    _images(f, skip=("label",))
    f["label"] = h5py.Empty("f8")


def partly_written_chunks(f, d):
    _images(f, skip=("sen2",))
    ds = f.create_dataset("sen2", (N, 32, 32, 10), "f8", chunks=(1, 32, 32, 10), compression="gzip")
    ds[:2] = 0.1


CRAFTED = {
    external_link_passwd: ["'sen2' is an external link", "/etc/passwd"],
    external_link_h5: ["'sen2' is an external link", "secret.h5"],
    soft_link_through_external: ["'label' leads to", "secret.h5", "another file"],
    soft_link_loop: ["'sen2' is a soft link to '/other'", "loop"],
    dangling_soft_link: ["'label' is a soft link to '/gone'", "does not resolve"],
    string_labels: ["'label' holds text (strings)", "expected real numbers"],
    vlen_labels: ["'label' holds variable-length"],
    compound_labels: ["'label' holds compound records"],
    bool_labels: ["'label' holds booleans"],
    complex_sen2: ["'sen2' holds complex numbers"],
    int8_sen2: ["dataset 'sen2' holds int8 values", "float32", "-128 to 127"],
    int8_sen1: ["dataset 'sen1' holds int8 values", "float32", "-128 to 127"],
    uint16_sen2: ["dataset 'sen2' holds uint16 values", "float64 (as published) or float32"],
    float16_sen2: [
        "dataset 'sen2' holds float16 values",
        "above 65504",
        "convert 'sen2' to float32",
    ],
    float128_labels: ["dataset 'label' holds float128 values", "one-hot"],
    billion_rows: ["'sen1' declares 1,000,000,000 rows but holds no data"],
    billion_rows_resized: ["'sen2' declares 1,000,000,000 rows but holds data for at most 6"],
    billion_labels: ["'label' declares 1,000,000,000 rows but holds no data"],
    virtual_missing_source: ["'sen2' is a virtual dataset"],
    external_storage: ["'sen2' keeps its values in the external file", "secret.bin"],
    empty_dataspace: ["'label' is an empty HDF5 dataset"],
    partly_written_chunks: ["'sen2' declares 6 rows but holds data for at most 2"],
}
IDS = [fn.__name__ for fn in CRAFTED]


def _craft(folder: Path, build) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{build.__name__}.h5"
    with h5py.File(path, "w") as f:
        build(f, folder)
    return path


# -- damaged files -------------------------------------------------------------------------


def _good(path: Path, chunked: bool = False) -> Path:
    with h5py.File(path, "w") as f:
        _images(f, skip=("sen2",) if chunked else ())
        if chunked:
            x = np.random.default_rng(1).random((N, 32, 32, 10))
            f.create_dataset("sen2", data=x, chunks=(1, 32, 32, 10), compression="gzip")
    return path


def _overwrite(path: Path, offset: int, data: bytes) -> Path:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)
    return path


def damaged_superblock(d):
    return _overwrite(_good(d / "damaged_superblock.h5"), 8, b"\xff" * 16), [
        "cannot read",
        "damaged_superblock.h5",
        "bad superblock version",
        "not an HDF5 file, or it is damaged or truncated",
    ]


def damaged_object_header(d):
    p = _good(d / "damaged_header.h5")
    with h5py.File(p, "r") as f:
        addr = h5py.h5o.get_info(f["label"].id).addr
    return _overwrite(p, addr, b"\xa5" * 8), [
        "'damaged_header.h5' is damaged or incomplete: cannot open 'label'",
        "object header",
    ]


def truncated(d):
    p = _good(d / "truncated.h5")
    os.truncate(p, p.stat().st_size // 2)
    return p, ["cannot read", "truncated.h5", "truncated file"]


def truncated_with_patched_eof(d):
    """Cut inside sen2's values, the end-of-file address in the superblock set to match:
    HDF5 opens it, and sen2 would read past the end."""
    p = _good(d / "cut.h5")
    with h5py.File(p, "r") as f:
        size = f["sen2"].id.get_offset() + 1000
    os.truncate(p, size)
    _overwrite(p, 40, struct.pack("<Q", size))  # superblock v0: end-of-file address
    h5py.File(p, "r").close()
    if h5py.version.hdf5_version_tuple >= (1, 14):  # HDF5 refuses to open such a dataset
        return p, ["'cut.h5' is damaged or truncated: 'sen2' declares more data than the file"]
    return p, ["'cut.h5' is damaged or truncated: 'sen2' declares 6 rows", "has only"]


def not_hdf5(d):
    p = d / "text.h5"
    p.write_text("sen2,label\n1,2\n")
    return p, ["cannot read", "text.h5", "not an HDF5 file"]


DAMAGED = [
    damaged_superblock,
    damaged_object_header,
    truncated,
    truncated_with_patched_eof,
    not_hdf5,
]
DAMAGED_IDS = [fn.__name__ for fn in DAMAGED]


def damaged_chunk(d):
    """A compressed sen2 whose first chunk is garbage: the error only shows on reading."""
    p = _good(d / "damaged_chunk.h5", chunked=True)
    with h5py.File(p, "r") as f:
        info = f["sen2"].id.get_chunk_info(0)
    return _overwrite(p, info.byte_offset + 2, b"\x00\xff" * 64)


# -- core ----------------------------------------------------------------------------------


@pytest.mark.parametrize("build", CRAFTED, ids=IDS)
def test_crafted_file_is_refused_on_opening(tmp_path, build):
    path = _craft(tmp_path, build)
    with pytest.raises(LczError) as err:
        So2SatFile(path, require=())
    msg = str(err.value)
    assert "\n" not in msg and f"'{path.name}'" in msg
    for needle in CRAFTED[build]:
        assert needle in msg, msg


@pytest.mark.parametrize("make", DAMAGED, ids=DAMAGED_IDS)
def test_damaged_file_is_a_clear_error(tmp_path, make):
    path, needles = make(tmp_path)
    with pytest.raises(LczError) as err:
        So2SatFile(path)
    msg = str(err.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg, msg


def test_damage_found_while_reading_names_file_and_dataset(tmp_path):
    path = damaged_chunk(tmp_path)
    with So2SatFile(path) as f:  # the metadata are fine
        assert f.labels().tolist() == list(range(1, N + 1))
        with pytest.raises(LczError, match=r"'damaged_chunk.h5' is damaged .*cannot read 'sen2'"):
            f.read("sen2", [0, 1])
    with pytest.raises(LczError, match="cannot read 'sen2'"):
        for _ in SequentialBatches(path, "sen2"):
            pass


def test_row_cap_is_checked_before_anything_is_allocated(tmp_path, monkeypatch):
    path = _good(tmp_path / "six.h5")
    monkeypatch.setattr(so2sat, "MAX_ROWS", 5)
    with pytest.raises(
        LczError, match=r"'sen1' declares 6 rows, more than the 5 this plugin reads"
    ):
        So2SatFile(path)


def test_legit_links_and_integer_labels_still_work(tmp_path):
    path = tmp_path / "links.h5"
    with h5py.File(path, "w") as f:
        _images(f, skip=("label",))
        f["data/onehot"] = np.eye(17, dtype=np.uint8)[[16, 0, 4, 4, 9, 2]]
        f["label"] = h5py.SoftLink("/data/onehot")
    with So2SatFile(path) as f:
        assert f.labels().tolist() == [17, 1, 5, 5, 10, 3]
        assert f.read("sen2", [5]).shape == (1, 32, 32, 10)


@pytest.mark.parametrize("dtype", ["float32", ">f8", "float64"])
def test_float32_and_float64_patches_and_labels_are_read_alike(tmp_path, dtype):
    path = tmp_path / "floats.h5"
    rng = np.random.default_rng(3)
    s2 = (rng.random((N, 32, 32, 10)) * 0.3).astype(np.float32)
    with h5py.File(path, "w") as f:
        f["sen1"] = rng.random((N, 32, 32, 8)).astype(dtype)
        f["sen2"] = s2.astype(dtype)
        f["label"] = np.eye(17, dtype=dtype)[np.arange(N) % 17]
    with So2SatFile(path) as f:
        assert f.read("sen2", [2, 4]).tobytes() == s2[[2, 4]].tobytes()
        assert f.labels().tolist() == list(range(1, N + 1))


def test_int8_patches_are_refused_by_every_api_and_nothing_is_written(tmp_path, rf_file):
    from lcz_qgis.evaluation.evaluate import evaluate_model
    from lcz_qgis.patches.load import load_patches
    from lcz_qgis.so2sat.summary import dataset_summary
    from lcz_qgis.training.train import train_model

    path = _craft(tmp_path, int8_sen2)
    earlier = {tmp_path / "s.html": b"<p>earlier</p>", tmp_path / "m.lczmodel": b"PK earlier"}
    for p, data in earlier.items():
        p.write_bytes(data)
    out = tmp_path / "out"
    calls = {
        "summary": lambda: dataset_summary(path, tmp_path / "s.html", tmp_path / "s.png"),
        "train": lambda: train_model(path, tmp_path / "m.lczmodel"),
        "evaluate": lambda: evaluate_model(rf_file, path),
        "patches": lambda: load_patches(path, out),
    }
    for what, call in calls.items():
        with pytest.raises(LczError) as err:
            call()
        msg = str(err.value)
        assert msg.startswith("'int8_sen2.h5': dataset 'sen2' holds int8 values"), (what, msg)
        assert "\n" not in msg
    assert not out.exists() and not (tmp_path / "s.png").exists()
    assert {p: p.read_bytes() for p in earlier} == earlier
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int8_sen2.h5", "m.lczmodel", "s.html"]


def test_fast_raw_reads_only_for_plain_contiguous_data(tmp_path):
    plain = _good(tmp_path / "plain.h5")
    with So2SatFile(plain) as f:
        reader = PatchReader(f, "sen2", list(range(10)))
        try:
            assert reader._parts.parts[0][1].fd is not None  # the published layout: preadv
            rows = np.arange(1, 5)
            np.testing.assert_array_equal(reader.read(rows), f.read("sen2", rows))
        finally:
            reader.close()
    size = 4 * 17 * 8
    (tmp_path / "raw.bin").write_bytes(SECRET * (size // len(SECRET)))
    with h5py.File(tmp_path / "odd.h5", "w") as f:
        f.create_dataset("chunked", data=np.ones((4, 17)), chunks=(1, 17))
        f.create_dataset("external", (4, 17), "f8", external=[(str(tmp_path / "raw.bin"), 0, size)])
        f.create_dataset("unwritten", (4, 17), "f8")
        f["plain"] = np.ones((4, 17))
    with h5py.File(tmp_path / "odd.h5", "r") as f:
        assert _raw_offset(tmp_path / "odd.h5", f["plain"], 17 * 8) == f["plain"].id.get_offset()
        for key in ("chunked", "external", "unwritten"):
            assert _raw_offset(tmp_path / "odd.h5", f[key], 17 * 8) is None, key


# -- geolocation files ----------------------------------------------------------------------


def _geo(path: Path, **replace) -> Path:
    n = N
    tfw = np.tile([500_000.0, 10, 0, 5_000_000.0, 0, 10], (n, 1))
    tfw[:, 0] += 320 * np.arange(n)
    with h5py.File(path, "w") as f:
        for key, value in {"tfw": tfw, "epsg": np.full((n, 1), 32632, np.int32)}.items():
            if key in replace:
                replace[key](f, key)
            else:
                f[key] = value
        f["coord"] = tfw[:, [0, 3]] + [160, -160]
    return path


GEO_CASES = {
    "external_link": (
        lambda f, k: f.__setitem__(k, h5py.ExternalLink("/etc/passwd", "/x")),
        "'epsg' is an external link",
    ),
    "dangling": (lambda f, k: f.__setitem__(k, h5py.SoftLink("/nope")), "'epsg' is a soft link"),
    "strings": (lambda f, k: f.__setitem__(k, np.array([[b"32632"]] * N)), "'epsg' holds text"),
    "billion_rows": (
        lambda f, k: f.create_dataset(k, (BILLION, 1), "i4"),
        "'epsg' declares 1,000,000,000 rows but holds no data",
    ),
}


@pytest.mark.parametrize("case", GEO_CASES)
def test_crafted_geolocation_file_is_refused(tmp_path, case):
    build, needle = GEO_CASES[case]
    path = _geo(tmp_path / f"geo_{case}.h5", epsg=build)
    with pytest.raises(LczError) as err:
        So2SatGeo(path)
    assert needle in str(err.value) and f"'{path.name}'" in str(err.value)


def test_billion_row_tfw_is_refused_before_reading(tmp_path):
    path = tmp_path / "geo_tfw.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("tfw", (BILLION, 6), "f8", chunks=(1024, 6))
        f.create_dataset("epsg", (BILLION, 1), "i4", chunks=(1024, 1))
    with pytest.raises(
        LczError, match="'tfw' declares 1,000,000,000 rows but holds data for at most 0"
    ):
        So2SatGeo(path)


def test_real_geolocation_file_still_opens(shared_dir):
    g = So2SatGeo(shared_dir / "so2sat" / "testing_geo_2025.h5")
    assert g.n == 24188 and g.layout == "2025"
    locs = g.locations([0, 1, 24187])
    assert locs.ok.all() and set(locs.epsg.tolist()) <= set(range(32601, 32761))


# -- the CLI ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rf_file(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("safety_rf")
    write_so2sat_file(d / "train.h5", 340, seed=5)
    assert main(["train", "--train", str(d / "train.h5"), "--output", str(d / "rf.lczmodel")]) == 0
    return d / "rf.lczmodel"


def _cli_error(capsys, argv, *needles) -> str:
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if "error:" in x]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"lcz {argv[0]}: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _commands(path: Path, tmp: Path, rf: Path) -> dict:
    return {
        "summary": ["summary", "--input", path],
        "patches": ["patches", "--input", path, "--output-folder", tmp / "out"],
        "evaluate": ["evaluate", "--model", rf, "--dataset", path],
        "train": ["train", "--train", path, "--output", tmp / "m.lczmodel"],
    }


@pytest.mark.parametrize("build", CRAFTED, ids=IDS)
def test_cli_commands_refuse_crafted_files(tmp_path, capsys, rf_file, build):
    path = _craft(tmp_path, build)
    for argv in _commands(path, tmp_path, rf_file).values():
        _cli_error(capsys, argv, f"'{path.name}'", CRAFTED[build][0])
    assert not (tmp_path / "out").exists() and not (tmp_path / "m.lczmodel").exists()


@pytest.mark.parametrize("make", DAMAGED, ids=DAMAGED_IDS)
def test_cli_commands_refuse_damaged_files(tmp_path, capsys, rf_file, make):
    path, needles = make(tmp_path)
    for argv in _commands(path, tmp_path, rf_file).values():
        _cli_error(capsys, argv, *needles)


def test_cli_read_time_damage_is_one_line(tmp_path, capsys, rf_file):
    path = damaged_chunk(tmp_path)
    for argv in _commands(path, tmp_path, rf_file).values():
        _cli_error(capsys, argv, "'damaged_chunk.h5' is damaged", "cannot read 'sen2'")
    assert not (tmp_path / "out").exists()


def test_cli_patches_never_copies_external_bytes(tmp_path, capsys):
    path = _craft(tmp_path, external_storage)
    out = tmp_path / "out"
    _cli_error(capsys, ["patches", "--input", path, "--output-folder", out], "external file")
    assert not out.exists()
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".tif", ".gpkg")]
    assert written == []


def test_cli_patches_refuses_crafted_geolocation(tmp_path, capsys):
    good = _good(tmp_path / "good.h5")
    geo = _geo(tmp_path / "geo.h5", epsg=GEO_CASES["external_link"][0])
    _cli_error(
        capsys,
        ["patches", "--input", good, "--geo", geo, "--output-folder", tmp_path / "out"],
        "'geo.h5': 'epsg' is an external link",
    )
    assert not (tmp_path / "out").exists()
