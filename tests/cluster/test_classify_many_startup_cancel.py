"""What a classify-many run says while its local workers start, and after a cancel
(issue 24, finding 8). The log is not empty while the workers start and warm up: each
started and each ready worker is named, before the first task's result. A cancel after
some tasks says how many tiles were finished and kept for resume (they are on disk),
that no mosaic was written and how to finish, in the core, Processing and the CLI."""

from __future__ import annotations

import re

import pytest

from lcz_qgis.cluster.run import ManyOptions, RunCancelled, classify_many
from lcz_qgis.common.feedback import RecordingFeedback

KEPT = re.compile(
    r"^(\d+) of (\d+) tiles finished and kept in (.+) for resume; no mosaic was written; "
    r"run again with the same options to finish$"
)


class _Timeline(RecordingFeedback):
    """Records messages and progress in one list, in order; cancels once a task ended."""

    def __init__(self):
        super().__init__(cancel_at=1e-9)
        self.events: list[tuple[str, object]] = []

    def progress(self, percent):
        super().progress(percent)
        self.events.append(("progress", percent))

    def info(self, message):
        super().info(message)
        self.events.append(("info", self.text(message)))


@pytest.fixture(scope="module")
def cancelled_run(four, rf_model, tmp_path_factory):
    """A local-cluster run (2 workers) of 25 tiles cancelled when its first task ended:
    (the feedback, the RunCancelled, the output folder)."""
    out = tmp_path_factory.mktemp("cancel") / "out"
    fb = _Timeline()
    with pytest.raises(RunCancelled) as caught:
        classify_many(four["nw"], rf_model, out, ManyOptions(workers=2, tile_size=4), fb)
    return fb, caught.value, out


def test_start_up_is_reported_before_the_first_task_result(cancelled_run):
    fb, _, _ = cancelled_run
    first = next(i for i, (kind, v) in enumerate(fb.events) if kind == "progress" and v > 0)
    before = [v for kind, v in fb.events[:first] if kind == "info"]
    assert before[0] == "starting 2 local Dask worker(s)..."
    started = [m for m in before if " started (" in m]
    assert len(started) == 2, before
    assert all(re.fullmatch(r"worker [12] of 2 started \(\d+\.\d s\)", m) for m in started)
    # the plugin's forest gives whole votes, so its workers import ONNX Runtime, as
    # load_model runs it (not scikit-learn)
    ready = [m for m in before if re.fullmatch(
        r"worker [12] of 2 ready \(ONNX Runtime imported in \d+\.\d s, model loaded in "
        r"\d+\.\d s\)", m)]  # fmt: skip
    assert len(ready) == 2, before
    readying = "readying 2 worker(s): each imports ONNX Runtime and loads the model..."
    assert before.index(readying) < before.index(ready[0])
    assert before.index(ready[0]) > before.index("starting 2 local Dask worker(s)...")
    assert before[-1] == "running 25 task(s) on 2 worker(s)..."


def test_a_cancel_says_how_many_tiles_were_kept_and_they_are_there(cancelled_run):
    _, exc, out = cancelled_run
    assert str(exc) == f"cancelled: {exc.kept}"
    got = KEPT.match(exc.kept)
    assert got, exc.kept
    kept, total = int(got[1]), int(got[2])
    assert total == 25 and 1 <= kept < total
    assert got[3] == str(out / "tiles")
    # counted once the workers were gone: exactly what a re-run skips
    assert len(list((out / "tiles").glob("*.tif"))) == kept
    assert len(list((out / "done").glob("*.json"))) == kept
    assert not (out / "mosaic.vrt").exists() and not (out / "run_report.json").exists()
    assert "no output was written" not in str(exc)


def test_a_cancel_before_any_tile_says_none_was_kept(four, rf_model, tmp_path):
    class _CancelAtStart(RecordingFeedback):
        def is_cancelled(self):
            return True

    with pytest.raises(RunCancelled) as caught:
        classify_many(four["ne"], rf_model, tmp_path / "o", ManyOptions(workers=1),
                      _CancelAtStart())  # fmt: skip
    assert caught.value.kept == "the tile had not finished; no mosaic was written"
    assert not list((tmp_path / "o").glob("tiles/*.tif"))


@pytest.mark.qgis
def test_processing_says_what_a_cancel_kept(run_alg, four, rf_model, tmp_path):
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    fb = QgsProcessingFeedback()
    fb.progressChanged.connect(lambda p: fb.cancel() if p > 0 else None)
    out = tmp_path / "q"
    with pytest.raises(QgsProcessingException) as caught:
        run_alg("lcz:classifymany", {"INPUTS": str(four["sw"]), "MODEL": str(rf_model),
                                     "WORKERS": 1, "TILE_SIZE": 5, "OUTPUT_FOLDER": str(out)},
                fb)  # fmt: skip
    text = str(caught.value)
    got = re.match(r"Cancelled: (\d+) of 16 tiles finished and kept in (.+) for resume; "
                   r"no mosaic was written; run again with the same options to finish$", text)  # fmt: skip
    assert got, text
    assert int(got[1]) == len(list((out / "tiles").glob("*.tif"))) >= 1
    assert "no output was written" not in text


def test_the_cli_says_what_a_cancel_kept(four, rf_model, tmp_path, monkeypatch, capsys):
    import lcz_qgis.cluster.run as run
    from lcz_qgis.cli import main

    kept = f"3 of 8 tiles finished and kept in {tmp_path / 'tiles'} for resume; no mosaic "
    kept += "was written; run again with the same options to finish"

    def cancelled(*args, **kwargs):
        raise RunCancelled(kept)

    monkeypatch.setattr(run, "classify_many", cancelled)
    code = main(["classify-many", "--inputs", str(four["nw"]), "--model", str(rf_model),
                 "--output-folder", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 130
    assert err.strip() == f"lcz classify-many: cancelled; {kept}"
