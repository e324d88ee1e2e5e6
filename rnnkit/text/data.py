"""The text corpora shipped in the repository's data/ folder (nothing is downloaded).

Files are xz-compressed; see data/*/README.md for sources and licences.
"""

from __future__ import annotations

import lzma
from pathlib import Path
from typing import NamedTuple

# rnnkit/text/data.py -> repository root; the corpora live in <root>/data, next to the package.
DATA_DIR = Path(__file__).resolve().parents[2] / "data"


def data_path(*parts: str) -> Path:
    """The path of a shipped data file, with a clear error if the checkout lacks it."""
    path = DATA_DIR.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(
            f"data file {path} is missing: rnnkit reads its corpora from the repository's data/ folder "
            "(run from a full git checkout, e.g. `pip install -e .`)"
        )
    return path


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file, decompressing ``.xz`` files."""
    path = Path(path)
    if path.suffix == ".xz":
        with lzma.open(path, "rt", encoding="utf-8") as file:
            return file.read()
    return path.read_text(encoding="utf-8")


class TextSplit(NamedTuple):
    train: str
    val: str


def load_shakespeare(val_fraction: float = 0.1) -> TextSplit:
    """Tiny Shakespeare (1,115,394 characters): the first 90% train, the last 10% validate,
    as nanoGPT's shakespeare_char."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"load_shakespeare: val_fraction must be in (0, 1), got {val_fraction}")
    text = read_text(data_path("tinyshakespeare", "input.txt.xz"))
    cut = int(len(text) * (1.0 - val_fraction))
    return TextSplit(text[:cut], text[cut:])
