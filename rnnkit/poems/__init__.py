"""Tang-poem generation: the corpus, the language-model task, form-enforcing decoding and the CLI.

    from rnnkit.poems import load_poet, write_poems
    poems = write_poems(load_poet(), form="wujue", acrostic="春夏秋冬", seed=0)
"""

from rnnkit.poems.data import (
    FORMS,
    Form,
    format_poem,
    get_form,
    load_poems,
    poem_form,
    poem_lines,
    split_poems,
)
from rnnkit.poems.generate import NoBundleError, Poem, PoemSettings, find_poet_bundle, load_poet, write_poems

__all__ = [
    "FORMS",
    "Form",
    "NoBundleError",
    "Poem",
    "PoemSettings",
    "find_poet_bundle",
    "format_poem",
    "get_form",
    "load_poems",
    "load_poet",
    "poem_form",
    "poem_lines",
    "split_poems",
    "write_poems",
]
