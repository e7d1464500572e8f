"""LCZ scores against values computed by hand on a small known confusion matrix."""

from __future__ import annotations

import numpy as np
import pytest

from lcz_qgis.evaluation.metrics import (
    OA_W_WEIGHTS,
    confusion_matrix,
    lcz_scores,
    scores_from_confusion,
)

# 12 patches of LCZ 1, 2, A (11) and G (17)
REFERENCE = [1, 1, 1, 1, 2, 2, 2, 11, 11, 11, 17, 17]
PREDICTED = [1, 1, 1, 2, 2, 2, 11, 11, 11, 17, 17, 1]


def test_confusion_matrix_rows_are_reference():
    cm = confusion_matrix(REFERENCE, PREDICTED)
    assert cm.shape == (17, 17) and cm.sum() == 12
    assert cm[0, 0] == 3 and cm[0, 1] == 1  # reference 1 predicted as 2 once
    assert cm[1, 10] == 1  # reference 2 predicted as A
    assert cm[16, 0] == 1  # reference G predicted as 1
    assert cm[1, 0] == 0


def test_scores_by_hand():
    s = lcz_scores(REFERENCE, PREDICTED)
    # OA = (3 + 2 + 2 + 1) / 12
    assert s["oa"] == pytest.approx(8 / 12)
    # kappa: row sums 4,3,3,2; column sums 4,3,3,2 -> pe = 38/144
    assert s["kappa"] == pytest.approx((8 / 12 - 38 / 144) / (1 - 38 / 144))
    assert s["kappa"] == pytest.approx(58 / 106)
    # OA_u: urban block holds (1,1)=3, (1,2)=1, (2,2)=2 -> 5 / 6
    assert s["oa_u"] == pytest.approx(5 / 6)
    # OA_bu: 6 built-built + 4 natural-natural of 12
    assert s["oa_bu"] == pytest.approx(10 / 12)
    # OA_w: 3*1 + 1*W(1,2)=.92 + 2*1 + W(2,A)=.42 + 2*1 + W(A,G)=.67 + 1*1 + W(G,1)=0
    assert s["oa_w"] == pytest.approx((3 + 0.92 + 2 + 0.42 + 2 + 0.67 + 1 + 0.0) / 12)
    per = {c["code"]: c for c in s["per_class"]}
    assert per[1]["precision"] == pytest.approx(3 / 4) and per[1]["recall"] == pytest.approx(3 / 4)
    assert per[2]["f1"] == pytest.approx(2 / 3)
    assert per[17]["precision"] == pytest.approx(1 / 2) and per[17]["recall"] == pytest.approx(
        1 / 2
    )
    assert per[5]["support"] == 0 and per[5]["f1"] == 0.0
    assert per[11]["lcz"] == "A" and per[11]["name"] == "Dense trees"
    # macro F1 over the 4 classes present in the reference
    assert s["macro_f1"] == pytest.approx(np.mean([0.75, 2 / 3, 2 / 3, 0.5]))
    assert s["n"] == 12


def test_perfect_and_values_outside_1_17_ignored():
    s = lcz_scores([1, 5, 17, 0], [1, 5, 17, 3])
    assert s["n"] == 3 and s["oa"] == 1.0 and s["kappa"] == 1.0 and s["oa_w"] == 1.0


def test_empty_confusion_is_an_error():
    with pytest.raises(ValueError):
        scores_from_confusion(np.zeros((17, 17)))


def test_oa_w_weights_equal_the_reference_table(shared_dir):
    table = np.loadtxt(shared_dir / "reference" / "lcz_weights.csv", delimiter=",")
    assert table.shape == (17, 17)
    np.testing.assert_array_equal(OA_W_WEIGHTS, table)
    np.testing.assert_array_equal(OA_W_WEIGHTS, OA_W_WEIGHTS.T)
    assert np.all(np.diag(OA_W_WEIGHTS) == 1.0)


def test_weighted_and_macro_scores_equal_sklearn():
    from sklearn.metrics import f1_score, precision_score, recall_score

    rng = np.random.default_rng(5)
    ref = rng.choice(np.arange(1, 18), size=3000, p=np.r_[np.full(16, 0.06), 0.04])
    ref[ref == 7] = 8  # LCZ 7 absent from the reference (support 0) but predicted
    pred = np.where(rng.random(3000) < 0.6, ref, rng.integers(1, 18, 3000))
    s = lcz_scores(ref, pred)
    present = np.unique(ref)
    for avg in ("weighted", "macro"):
        kw = dict(labels=present, average=avg, zero_division=0)
        f1 = f1_score(ref, pred, **kw)
        assert s[f"{avg}_f1"] == pytest.approx(f1, abs=1e-12)
    kw = dict(average="weighted", zero_division=0)
    assert s["weighted_precision"] == pytest.approx(precision_score(ref, pred, **kw), abs=1e-12)
    assert s["weighted_recall"] == pytest.approx(recall_score(ref, pred, **kw), abs=1e-12)
    assert s["weighted_recall"] == pytest.approx(s["oa"])  # support-weighted recall is OA
    # unbalanced support: weighted and macro F1 differ
    assert abs(s["weighted_f1"] - s["macro_f1"]) > 1e-4
    per = {c["code"]: c for c in s["per_class"]}
    p = precision_score(ref, pred, labels=list(range(1, 18)), average=None, zero_division=0)
    r = recall_score(ref, pred, labels=list(range(1, 18)), average=None, zero_division=0)
    for code in range(1, 18):
        assert per[code]["ua"] == per[code]["precision"] == pytest.approx(p[code - 1])
        assert per[code]["pa"] == per[code]["recall"] == pytest.approx(r[code - 1])


def test_weighted_f1_by_hand():
    s = lcz_scores(REFERENCE, PREDICTED)
    # F1 of LCZ 1, 2, A, G = 3/4, 2/3, 2/3, 1/2 with 4, 3, 3, 2 reference patches
    assert s["weighted_f1"] == pytest.approx((4 * 0.75 + 3 * 2 / 3 + 3 * 2 / 3 + 2 * 0.5) / 12)


def test_confusion_is_labelled_rows_reference_columns_predicted():
    s = lcz_scores(REFERENCE, PREDICTED)
    assert s["confusion_axes"] == {"rows": "reference", "columns": "predicted"}
    assert s["confusion_labels"] == [str(i) for i in range(1, 11)] + list("ABCDEFG")
    assert s["confusion_codes"] == list(range(1, 18))
    cm, labels = s["confusion"], s["confusion_labels"]
    # reference G predicted as 1: row "G", column "1"
    assert cm[labels.index("G")][labels.index("1")] == 1
    assert cm[labels.index("1")][labels.index("G")] == 0
