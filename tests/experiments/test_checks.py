"""The experiments' one integer check, and the options and data generators that use it."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.experiments.checks import check_int
from rnnkit.experiments.tasks import AddingOptions, CopyOptions, TailOptions, adding_data, copy_baseline


def test_check_int_takes_integers_at_or_above_the_minimum():
    assert check_int("n", 3, 3) == 3
    assert check_int("n", np.int64(4), 1) == 4 and type(check_int("n", np.int64(4), 1)) is int


@pytest.mark.parametrize(("value", "error"), [(2.0, TypeError), ("3", TypeError), (True, TypeError), (None, TypeError),
                                              (0, ValueError), (-5, ValueError)])
def test_check_int_names_the_argument_the_expectation_and_the_value(value, error):
    with pytest.raises(error, match=rf"^hidden_size: expected an integer >= 1, got {value!r}"):
        check_int("hidden_size", value, 1)


def test_check_int_says_what_was_expected_in_other_words():
    with pytest.raises(ValueError, match=r"^delay: expected an integer T >= 1, got 0$"):
        check_int("delay", 0, 1, expected="an integer T >= 1")


def test_options_and_generators_refuse_a_number_that_is_not_an_integer():
    with pytest.raises(TypeError, match=r"hidden_size: expected an integer >= 1, got 2.5 \(float\)"):
        AddingOptions(hidden_size=2.5)
    with pytest.raises(TypeError, match=r"delay: expected an integer >= 1, got 1.5 \(float\)"):
        CopyOptions(delay=1.5)
    with pytest.raises(TypeError, match=r"tail: expected an integer >= 1, got True \(bool\)"):
        TailOptions(tail=True)
    with pytest.raises(TypeError, match=r"delay: expected an integer T >= 1, got 10.0 \(float\)"):
        copy_baseline(10.0)
    with pytest.raises(TypeError, match=r"seq_len: expected an integer >= 2 \(two marked steps\), got 4.0"):
        adding_data(2, 4.0, np.random.default_rng(0))
