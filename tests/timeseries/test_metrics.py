"""rnnkit.timeseries.metrics against values computed by hand."""

import numpy as np
import pytest

from rnnkit.timeseries.metrics import coverage, detection_scores, mae, mase, mse, pinball, rmse, smape

ACTUAL = np.array([1.0, 2.0, 4.0])
FORECAST = np.array([2.0, 2.0, 1.0])  # errors -1, 0, 3


def test_point_metrics_by_hand():
    assert mae(ACTUAL, FORECAST) == pytest.approx(4 / 3)
    assert mse(ACTUAL, FORECAST) == pytest.approx(10 / 3)
    assert rmse(ACTUAL, FORECAST) == pytest.approx((10 / 3) ** 0.5)
    # 2|e|/(|y|+|ŷ|): 2/3, 0, 6/5 -> mean 28/45, times 100
    assert smape(ACTUAL, FORECAST) == pytest.approx(100 * 28 / 45)
    assert smape(np.zeros(2), np.zeros(2)) == 0.0  # 0/0 counts 0


def test_mase_by_hand():
    train = np.array([1.0, 3.0, 2.0, 6.0])
    # period 1: |3-1|, |2-3|, |6-2| -> mean 7/3; period 2: |2-1|, |6-3| -> mean 2
    assert mase(ACTUAL, FORECAST, train, 1) == pytest.approx((4 / 3) / (7 / 3))
    assert mase(ACTUAL, FORECAST, train, 2) == pytest.approx((4 / 3) / 2)
    with pytest.raises(ValueError, match="MASE is undefined"):
        mase(ACTUAL, FORECAST, np.array([1.0, 2.0, 1.0, 2.0]), 2)
    with pytest.raises(ValueError, match="period: expected an integer >= 1"):
        mase(ACTUAL, FORECAST, train, 0)


def test_coverage_and_pinball_by_hand():
    assert coverage(ACTUAL, ACTUAL - 0.5, np.array([1.5, 1.0, 5.0])) == pytest.approx(2 / 3)
    # q = 0.9: errors y - ŷ = -1, 0, 3 -> 0.1, 0, 2.7 -> mean 2.8/3
    assert pinball(ACTUAL, FORECAST, 0.9) == pytest.approx(2.8 / 3)


def test_detection_scores_by_hand():
    flags = np.array([1, 1, 0, 0, 1], bool)
    labels = np.array([1, 0, 1, 0, 1], bool)  # TP 2, FP 1, FN 1
    scores = detection_scores(flags, labels)
    assert (scores.true_positives, scores.false_positives, scores.false_negatives) == (2, 1, 1)
    assert scores.precision == pytest.approx(2 / 3) and scores.recall == pytest.approx(2 / 3)
    assert scores.f1 == pytest.approx(2 / 3)
    assert detection_scores(np.zeros(3, bool), np.zeros(3, bool)).f1 == 0.0


def test_shape_mismatch_names_the_argument():
    with pytest.raises(ValueError, match=r"forecast: expected the shape of actual \(3,\), got \(2,\)"):
        mae(ACTUAL, FORECAST[:2])
