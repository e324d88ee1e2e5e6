import re

import pytest
import torch

from rnnkit.decoding import DecodingOptions, temperature, top_k, top_p
from rnnkit.decoding.options import SAMPLING_OPTIONS


@pytest.mark.parametrize(("given", "method", "beam"), [
    ({}, "sample", None),
    ({"default": "greedy"}, "greedy", None),
    ({"beam": 1}, "greedy", None),  # 1: no beam
    ({"beam": 1, "default": "greedy"}, "greedy", None),
    ({"beam": 2}, "beam", 2),
    ({"beam": 5, "default": "greedy"}, "beam", 5),
    ({"temperature": 0}, "greedy", None),
    ({"temperature": 0.7, "seed": 3}, "sample", None),
])
def test_choose_picks_the_method(given, method, beam):
    options = DecodingOptions.choose(**given)
    assert (options.method, options.beam) == (method, beam)
    assert options.temperature == (given.get("temperature") or None)  # 0 is the greedy choice, not a temperature


@pytest.mark.parametrize(("given", "error", "message"), [
    ({"beam": 0}, ValueError, r"beam: expected an int >= 1, got 0 \(1: greedy decoding"),
    ({"beam": -3}, ValueError, "beam: expected an int >= 1, got -3"),
    ({"beam": 2.0}, TypeError, "beam: expected an int >= 1, got float 2.0"),
    ({"beam": True}, TypeError, "beam: expected an int >= 1, got bool True"),
    ({"temperature": -1.0}, ValueError, "temperature: expected a number > 0, got -1.0"),
    ({"temperature": float("nan")}, ValueError, "temperature: expected a finite number, got nan"),
    ({"top_k": 0}, ValueError, "top_k: expected an int >= 1, got 0"),
    ({"top_p": 1.5}, ValueError, r"top_p: expected a number in \(0, 1\], got 1.5"),
    ({"seed": -1}, ValueError, "seed: expected an int >= 0, got -1"),
    ({"temperature": 0, "beam": 3}, ValueError, "temperature: 0 asks for greedy decoding, and beam=3"),
    ({"default": "beams"}, ValueError, "method: expected one of"),
])
def test_bad_values_name_the_option_the_expected_and_the_received(given, error, message):
    with pytest.raises(error, match=message):
        DecodingOptions.choose(**given)


DETERMINISTIC = [({"beam": 4}, "beam search (beam=4)"), ({"beam": 1}, "greedy decoding"),
                 ({"temperature": 0}, "greedy decoding"), ({"default": "greedy"}, "greedy decoding")]


@pytest.mark.parametrize(("name", "chooser", "way"), [(name, chooser, way) for name in SAMPLING_OPTIONS
                                                      for chooser, way in DETERMINISTIC if name not in chooser])
def test_sampling_options_with_greedy_or_beam_are_errors(name, chooser, way):
    value = {"temperature": 0.5, "top_k": 3, "top_p": 0.9, "seed": 1}[name]
    with pytest.raises(ValueError, match="^" + re.escape(f"{name}: only used when sampling; got {name}={value} with {way}")):
        DecodingOptions.choose(**chooser, **{name: value})


def test_the_constructor_keeps_the_rule():
    with pytest.raises(ValueError, match="beam: only used by method='beam', got beam=3 with method='greedy'"):
        DecodingOptions("greedy", beam=3)
    with pytest.raises(ValueError, match="seed: only used when sampling; got seed=0 with beam search, which"):
        DecodingOptions("beam", seed=0)
    with pytest.raises(ValueError, match="temperature: expected a number > 0, got 0"):
        DecodingOptions("sample", temperature=0)
    assert DecodingOptions("beam", beam=1).beam == 1  # the library may ask for a width-1 search explicitly


def test_processors_are_the_sampling_processors_in_order():
    logits = torch.randn(3, 11, generator=torch.Generator().manual_seed(0))
    history = torch.empty(3, 0, dtype=torch.long)
    options = DecodingOptions.choose(temperature=0.7, top_k=5, top_p=0.8)
    got = logits
    for processor in options.processors():
        got = processor(history, got)
    expected = top_p(0.8)(history, top_k(5)(history, temperature(0.7)(history, logits)))
    torch.testing.assert_close(got, expected)
    assert DecodingOptions.choose(beam=3).processors() == [] and DecodingOptions.choose().processors() == []
