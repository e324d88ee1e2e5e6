"""Tokenizers and the text corpora shipped with rnnkit."""

from rnnkit.text.data import TextSplit, data_path, load_shakespeare, read_text
from rnnkit.text.tokenizer import END, PAD, SPECIAL_TOKENS, START, UNK, Tokenizer, split_words, unknown_tokens

__all__ = [
    "END",
    "PAD",
    "SPECIAL_TOKENS",
    "START",
    "UNK",
    "TextSplit",
    "Tokenizer",
    "data_path",
    "load_shakespeare",
    "read_text",
    "split_words",
    "unknown_tokens",
]
