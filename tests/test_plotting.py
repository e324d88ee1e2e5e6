import sys

import pytest

from rnnkit.plotting import pyplot


def test_pyplot_is_the_agg_backend():
    plt = pytest.importorskip("matplotlib.pyplot")
    assert pyplot("a test") is plt and plt.get_backend().lower() == "agg"


def test_without_matplotlib_the_message_names_the_use_and_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    with pytest.raises(ImportError, match=r"an attention plot needs matplotlib: pip install 'rnnkit\[translate\]'"):
        pyplot("an attention plot", "translate")
