"""Quantiles from one sort must be numpy's to the last bit: a cached forecast and a new one,
or a plan and its rerun, may not differ."""

import numpy as np
import pytest

from recommenders.forecasters.forecaster import QUANTILES
from recommenders.quantiles import median, medians, quantile, quantiles


def _samples(size: int) -> list[np.ndarray]:
    rng = np.random.default_rng(size)
    return [
        rng.standard_normal(size),
        rng.integers(0, 4, size).astype(float),  # ties
        rng.lognormal(0, 3, size) * 1e9,
        np.full(size, 0.1),
    ]


@pytest.mark.parametrize("size", [1, 2, 3, 200, 201, 202, 720, 5760])
def test_the_201_quantiles_a_forecast_keeps_are_numpys_bit_for_bit(size):
    for values in _samples(size):
        assert quantiles(values, QUANTILES).tobytes() == np.quantile(values, QUANTILES).tobytes()


@pytest.mark.parametrize("size", [1, 2, 3, 168, 720, 888])
@pytest.mark.parametrize("at", [0.0, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0])
def test_one_quantile_is_numpys_bit_for_bit(size, at):
    for values in _samples(size):
        assert quantile(values, at) == float(np.quantile(values, at))


def test_what_numpy_refuses_or_cannot_say_stays_so():
    with pytest.raises(IndexError):
        quantiles(np.array([]), QUANTILES)
    assert np.isnan(quantile(np.array([1.0, np.nan, 2.0]), 0.5))


@pytest.mark.parametrize("size", [1, 2, 3, 24, 719, 720, 721, 5760])
def test_the_median_is_numpys_bit_for_bit(size):
    for values in _samples(size):
        expected = np.float64(np.median(values)).tobytes()
        assert np.float64(median(values)).tobytes() == expected
        shuffled = np.random.default_rng(size).permutation(values)
        assert np.float64(median(shuffled)).tobytes() == expected


def test_a_median_with_nan_or_of_nothing_is_nan_as_numpys():
    for values in (np.array([1.0, np.nan, 2.0]), np.array([np.nan, 1.0]), np.array([3.0, np.nan])):
        assert np.float64(median(values)).tobytes() == np.float64(np.median(values)).tobytes()
    with pytest.warns(RuntimeWarning):
        assert np.isnan(median(np.array([])))


@pytest.mark.parametrize("shape", [(1, 1), (2, 24), (3, 24), (30, 24), (31, 7), (24, 30), (4, 1)])
@pytest.mark.parametrize("axis", [0, 1])
def test_medians_along_an_axis_are_numpys_bit_for_bit(shape, axis):
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    for values in _samples(shape[0] * shape[1]):
        grid = rng.permutation(values).reshape(shape)
        assert medians(grid, axis).tobytes() == np.median(grid, axis=axis).tobytes()
        grid[rng.integers(0, shape[0]), rng.integers(0, shape[1])] = np.nan
        assert medians(grid, axis).tobytes() == np.median(grid, axis=axis).tobytes()


def test_medians_of_zeros_of_both_signs_equal_numpys():
    """A sort orders -0.0 and 0.0 as it finds them, numpy's partition otherwise: the value
    is the same number, its sign bit may differ (the module says so)."""
    values = np.array([0.0, -0.0, 0.0, -0.0, 1.0])
    assert median(values) == np.median(values) == 0.0
    assert (medians(values.reshape(1, 5), 1) == np.median(values.reshape(1, 5), axis=1)).all()
