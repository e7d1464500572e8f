"""Reports: the confusion-matrix plot's orientation, PNG plots, HTML that escapes names."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from lcz_qgis.common.legend import LCZ_CLASSES, N_CLASSES
from lcz_qgis.evaluation.metrics import calibration_bin_counts, calibration_table, lcz_scores
from lcz_qgis.reports import plots
from lcz_qgis.reports.html import evaluation_report_html, img_tag, training_report_html

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _decoded(png: bytes) -> np.ndarray:
    """The PNG's pixels (H, W, channels), read back by matplotlib."""
    from matplotlib.image import imread

    assert png.startswith(PNG_SIGNATURE)
    return imread(io.BytesIO(png), format="png")


@pytest.fixture()
def figures(monkeypatch):
    """The matplotlib figures the plots draw, kept as they are saved."""
    kept = []
    save = plots._png

    def keep(fig):
        kept.append(fig)
        return save(fig)

    monkeypatch.setattr(plots, "_png", keep)
    return kept


def test_confusion_plot_rows_are_reference_columns_predicted(figures):
    # 30 patches of LCZ 1 predicted as LCZ 2; 5 of water (G) right
    reference = [1] * 30 + [17] * 5
    predicted = [2] * 30 + [17] * 5
    cm = lcz_scores(reference, predicted)["confusion"]
    png = plots.confusion_png(cm, title="city")
    counts, normalised = figures[0].axes[:2]
    for ax in (counts, normalised):
        assert ax.get_ylabel().startswith("Reference (rows)")
        assert ax.get_xlabel().startswith("Map (columns)")
        assert [t.get_text() for t in ax.get_yticklabels()] == [c.letter for c in LCZ_CLASSES]
        assert [t.get_text() for t in ax.get_xticklabels()] == [c.letter for c in LCZ_CLASSES]
    image = np.asarray(counts.images[0].get_array())
    assert image.shape == (N_CLASSES, N_CLASSES)
    assert image[0, 1] == 30 and image[1, 0] == 0 and image[16, 16] == 5  # row 1, column 2
    # the numbers written in the cells: x = column (predicted), y = row (reference)
    cells = {(int(t.get_position()[1]), int(t.get_position()[0])): t.get_text()
             for t in counts.texts}  # fmt: skip
    assert cells == {(0, 1): "30", (16, 16): "5"}
    shares = {(int(t.get_position()[1]), int(t.get_position()[0])): t.get_text()
              for t in normalised.texts}  # fmt: skip
    assert shares == {(0, 1): "1.00", (16, 16): "1.00"}  # each reference row sums to 1
    assert "35 patches" in figures[0].texts[0].get_text()  # the suptitle
    assert "OA 0.143" in figures[0].texts[0].get_text()
    assert _decoded(png).shape[0] > 2000  # two panels, one above the other


def test_confusion_plot_refuses_a_matrix_of_another_size():
    with pytest.raises(ValueError, match="17x17"):
        plots.confusion_png(np.zeros((10, 10)))


def test_every_plot_is_a_png():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.2, 1.0, 500)
    table = calibration_table(calibration_bin_counts(conf, rng.random(500) < conf))
    history = {"loss": [1.2, 0.8, 0.6], "val_loss": [1.3, 1.0, 0.9],
               "accuracy": [0.4, 0.6, 0.7], "val_accuracy": [0.35, 0.5, 0.55]}  # fmt: skip
    pngs = {
        "confusion": plots.confusion_png(np.eye(N_CLASSES) * 3),
        "curves": plots.training_curves_png(history, best_epoch=3),
        "reliability": plots.reliability_png(table, 0.05, "t"),
    }
    for name, png in pngs.items():
        pixels = _decoded(png)
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 200, name
        assert pixels[..., :3].std() > 0.05, f"{name} is blank"
    with pytest.raises(ValueError, match="empty"):
        plots.reliability_png([])


class _Page(HTMLParser):
    """The tags, the text and the images of an HTML page."""

    def __init__(self):
        super().__init__()
        self.tags, self.text, self.images = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs))

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Page:
    p = _Page()
    p.feed(page)
    return p


HOSTILE = "<svg onload=alert('x')>"  # a file name may hold any of these (no slash)


def test_the_evaluation_report_escapes_names_and_embeds_png_plots():
    scores = lcz_scores([1, 2, 2, 17], [1, 2, 3, 17])
    scores |= {"model": f"/m/{HOSTILE}.lczmodel", "model_type": "rf", "sensor": "sen2",
               "bands": ["B2", "<B3>"], "dataset": "/d/a&b<i>.h5", "n": 4, "seconds": 1.5}  # fmt: skip
    page = evaluation_report_html(scores)
    parsed = _parse(page)
    assert "svg" not in parsed.tags and "i" not in parsed.tags
    text = "".join(parsed.text)
    assert f"{HOSTILE}.lczmodel" in text  # shown as text, as the user named it
    assert "a&b<i>.h5" in text and "B2, <B3>" in text
    assert "&lt;svg onload=alert(&#x27;x&#x27;)&gt;" in page and "a&amp;b&lt;i&gt;.h5" in page
    assert "Rows: reference LCZ; columns: predicted LCZ" in text
    [image] = [i for i in parsed.images if i["alt"].startswith("confusion matrix")]
    assert image["alt"] == "confusion matrix, a&b<i>.h5"  # the attribute was escaped
    src = image["src"]
    assert src.startswith("data:image/png;base64,")
    _decoded(base64.b64decode(src.split(",", 1)[1]))


def test_the_training_report_escapes_the_manifest():
    manifest = {"model_type": "<b>rf</b>", "sensor": "sen2", "band_names": ["B2"],
                "training": {"file": f"/t/{HOSTILE}.h5", "n_train": 10}}  # fmt: skip
    page = training_report_html(manifest, {})
    parsed = _parse(page)
    assert "svg" not in parsed.tags and "b" not in parsed.tags
    assert "LCZ model training: <b>rf</b>" in "".join(parsed.text)
    assert f"/t/{HOSTILE}.h5" in "".join(parsed.text)
    assert "No validation patches: no scores." in "".join(parsed.text)
    assert re.search(r"<title>LCZ model training: &lt;b&gt;rf&lt;/b&gt;</title>", page)


def test_img_tag_escapes_its_alternative_text():
    tag = img_tag(PNG_SIGNATURE, 'a "b" <c>')
    assert tag.startswith('<img alt="a &quot;b&quot; &lt;c&gt;" src="data:image/png;base64,')
    assert base64.b64decode(tag.split(",", 1)[1].rstrip('">')) == PNG_SIGNATURE
