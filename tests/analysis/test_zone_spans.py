"""analysis.zone_spans: the cells of each polygon by spans are the cells GDAL's rasterizer
burns (``rasterio.features.rasterize``, the rule ``raster.io.rasterize_rows`` and the
tests' reference ``count_zone`` use), cell for cell, on polygons built to hit its corner
cases: vertices on cell centres (ties), edges on a row's centre line, holes, parts,
self-crossing rings, either winding, grids whose pixel size has no exact binary form;
and ``run_counts.count_zone_codes`` counts what a key per cell counts."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.features import rasterize
from rasterio.transform import Affine

from lcz_qgis.analysis import run_counts
from lcz_qgis.analysis.run_counts import count_keys, count_zone_codes, zone_ids
from lcz_qgis.analysis.zone_spans import polygon_edges, row_spans
from lcz_qgis.common.errors import LczError

GRIDS = [  # origin x, pixel size, origin y: sizes 0.1, 1/3 and 0.000898 are inexact
    (690000.0, 10.0, 5340000.0),
    (-3.3, 0.1, 45.1),
    (12.34567, 1 / 3, 0.0),
    (690000.0, 0.000898, 5340000.0),
    (0.0, 100.0, 0.0),
]


def _random_shape(rng, w, h, gt):
    """A polygon in map coordinates from pixel-space vertices of one of four kinds."""

    def ring(pts):
        pts = [(gt[0] + c * gt[1], gt[3] + r * gt[5]) for c, r in pts]
        return [*pts, pts[0]]

    n = int(rng.integers(3, 9))
    kind = int(rng.integers(0, 4))
    if kind == 0:  # anywhere (self-crossing rings too)
        pts = rng.uniform(-5, max(w, h) + 5, (n, 2))
    elif kind == 1:  # on half cells: vertices and crossings on cell centres
        pts = rng.integers(-4, 2 * max(w, h) + 4, (n, 2)) / 2.0
    elif kind == 2:  # a box on half cells: its flat edges lie on row centre lines
        c0, c1 = sorted(rng.integers(-4, 2 * w + 4, 2) / 2.0)
        r0, r1 = sorted(rng.integers(-4, 2 * h + 4, 2) / 2.0)
        pts = np.array([[c0, r0], [c1, r0], [c1, r1], [c0, r1]])
    else:  # on cell corners
        pts = rng.integers(-2, max(w, h) + 2, (n, 2)).astype(float)
    if rng.random() < 0.5:
        pts = pts[::-1]  # either winding
    coords = [ring(pts)]
    if rng.random() < 0.3:
        coords.append(ring(pts * 0.5 + pts.mean(0) * 0.5))  # a hole (maybe crossing)
    if rng.random() < 0.25:
        return {"type": "MultiPolygon", "coordinates": [coords, [ring(pts + (3, 2))]]}
    return {"type": "Polygon", "coordinates": coords}


def _cells(spans, k, row0, nrows, w):
    """(nrows, w) how many of polygon ``k``'s spans hold each cell."""
    poly, row, a, b = spans
    got = np.zeros((nrows, w), np.int64)
    for r, x0, x1 in zip(row[poly == k], a[poly == k], b[poly == k]):
        got[r - row0, x0:x1] += 1
    return got


@pytest.mark.parametrize("seed", range(6))
def test_the_spans_are_the_cells_gdal_burns(seed):
    rng = np.random.default_rng(seed)
    for _ in range(80):
        w, h = (int(v) for v in rng.integers(5, 90, 2))
        x0, size, y0 = GRIDS[int(rng.integers(len(GRIDS)))]
        gt = (x0, size, 0.0, y0, 0.0, -size)
        shapes = [_random_shape(rng, w, h, gt) for _ in range(int(rng.integers(1, 5)))]
        row0 = int(rng.integers(0, h))
        nrows = int(rng.integers(1, h - row0 + 1))
        spans = row_spans(polygon_edges(shapes, gt), row0, nrows, w)
        assert (spans[2] < spans[3]).all() and (spans[2] >= 0).all() and (spans[3] <= w).all()
        for k, shape in enumerate(shapes):
            want = rasterize([shape], (h, w), transform=Affine.from_gdal(*gt), dtype="uint8")
            got = _cells(spans, k, row0, nrows, w)
            assert got.max(initial=0) <= 1  # a polygon's spans never overlap
            np.testing.assert_array_equal(got, want[row0 : row0 + nrows], err_msg=str(shape))


def test_a_flat_edge_on_a_row_centre_is_filled_as_gdal_fills_it():
    # an L whose two bottom edges lie on row centre lines (rows 2 and 4), in both windings:
    # GDAL turns each ring clockwise and fills the bottom ones
    gt = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
    pts = [(1, 1.5), (6, 1.5), (6, 4.5), (3, 4.5), (3, 2.5), (1, 2.5)]
    for ring in (pts, pts[::-1]):
        shape = {"type": "Polygon", "coordinates": [[(x, -y) for x, y in [*ring, ring[0]]]]}
        got = _cells(row_spans(polygon_edges([shape], gt), 0, 7, 8), 0, 0, 7, 8)
        assert got.sum(axis=1).tolist() == [0, 5, 5, 3, 3, 0, 0]
        want = rasterize([shape], (7, 8), transform=Affine.from_gdal(*gt), dtype="uint8")
        np.testing.assert_array_equal(got, want)


def test_zones_sharing_a_border_through_cell_centres_split_its_cells():
    # a 40 x 25 grid of zones whose borders run through cell centres (x = 274.5 cells):
    # every cell of the map in exactly one zone, as the benchmark's districts
    n, nx, ny = 1098, 4, 5
    gt = (690000.0, 10.0, 0.0, 5340000.0 + 10.0 * n, 0.0, -10.0)
    w, h = 10.0 * n / nx, 10.0 * n / ny
    shapes = []
    for i in range(nx):
        for j in range(ny):
            x0, y0 = 690000 + i * w, 5340000 + j * h
            ring = [(x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h), (x0, y0)]
            shapes.append({"type": "Polygon", "coordinates": [ring]})
    poly, row, a, b = row_spans(polygon_edges(shapes, gt), 0, n, n)
    cover = np.zeros((n, n), np.int64)
    for r, x0, x1 in zip(row, a, b):
        cover[r, x0:x1] += 1
    assert (cover == 1).all()


def test_polygons_off_the_map_or_empty_give_no_span():
    gt = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
    far = {"type": "Polygon", "coordinates": [[(1e12, -1e12), (2e12, -1e12), (2e12, -2e12),
                                               (1e12, -1e12)]]}  # fmt: skip
    poly, row, a, b = row_spans(polygon_edges([None, far], gt), 0, 10, 10)
    assert poly.size == row.size == a.size == b.size == 0


def test_a_rotated_grid_is_refused():
    square = {"type": "Polygon", "coordinates": [[(0, 0), (3, 0), (3, -3), (0, 0)]]}
    for gt in [(0.0, 1.0, 0.2, 0.0, 0.0, -1.0), (0.0, 1.0, 0.0, 0.0, 0.1, -1.0),
               (0.0, 0.0, 0.0, 0.0, 0.0, -1.0)]:  # fmt: skip
        with pytest.raises(LczError, match="north-up"):
            polygon_edges([square], gt)


def test_a_non_finite_vertex_or_a_line_is_refused():
    gt = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
    bad = {"type": "Polygon", "coordinates": [[(0, 0), (np.nan, -3), (3, -3), (0, 0)]]}
    with pytest.raises(LczError, match="finite"):
        polygon_edges([bad], gt)
    with pytest.raises(LczError, match="LineString"):
        polygon_edges([{"type": "LineString", "coordinates": [(0, 0), (1, 1)]}], gt)


def _spans_of(zone: np.ndarray):
    """(starts, stops, ids) of the runs of non-zero ids of a flat zone array."""
    flat = zone.reshape(-1)
    edge = np.flatnonzero(np.diff(np.r_[0, flat, 0]))
    starts, stops = edge[:-1], edge[1:]
    ids = np.r_[flat, 0][starts]
    keep = ids > 0
    return starts[keep], stops[keep], ids[keep]


@pytest.mark.parametrize("block, chunk", [(40, None), (1, None), (1, 1500)])  # runs (a 10 m
# map), or noise (a key per cell) in one chunk or by 3 rows at a time
@pytest.mark.parametrize("weighted", [False, True])
def test_counting_by_spans_gives_the_counts_of_a_key_per_cell(block, chunk, weighted,
                                                              monkeypatch):  # fmt: skip
    if chunk:
        monkeypatch.setattr(run_counts, "CELL_CHUNK", chunk)
    rng = np.random.default_rng(block)
    rows, cols, zones = 64, 500, 9
    coarse = rng.integers(0, 18, (rows // block + 1, cols // block + 1))
    codes = np.kron(coarse, np.ones((block, block), np.int64))[:rows, :cols].astype(np.uint8)
    zone = np.zeros((rows, cols), np.int64)
    for k in range(1, zones + 1):  # rectangles, some touching, some cut by row ends
        r0, c0 = rng.integers(0, rows), rng.integers(0, cols)
        zone[r0 : r0 + rng.integers(1, 30), c0 : c0 + rng.integers(1, 400)] = k
    spans = _spans_of(zone)
    np.testing.assert_array_equal(zone_ids(spans, codes.shape), zone)
    weights = np.linspace(1.0, 2.0, rows) * 1e4 if weighted else None
    got, got_w = count_zone_codes(codes, spans, zones, weights)
    want, want_w = count_keys(zone * 18 + codes, (zones + 1) * 18, weights)
    np.testing.assert_array_equal(got, want)
    if weighted:
        np.testing.assert_allclose(got_w, want_w, rtol=1e-12)
    else:
        assert got_w is None
