import hashlib

import pytest

from rnnkit.text import data_path, load_shakespeare, read_text


def test_shakespeare_split_is_90_10_and_intact():
    split = load_shakespeare()
    text = split.train + split.val
    assert len(text) == 1_115_394
    assert len(split.train) == int(len(text) * 0.9)
    assert hashlib.sha256(text.encode()).hexdigest() == (
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
    )
    assert split.train.startswith("First Citizen:")


def test_licences_ship_with_the_data():
    assert "MIT" in read_text(data_path("tang_poems", "LICENSE.chinese-poetry.txt"))
    assert "MIT" in read_text(data_path("tinyshakespeare", "README.md"))


def test_errors():
    with pytest.raises(FileNotFoundError, match="missing"):
        data_path("nope.txt")
    with pytest.raises(ValueError, match="val_fraction"):
        load_shakespeare(1.5)
