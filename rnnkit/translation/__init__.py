"""Translation with encoder-decoder models: data, the ``translation`` task, decoding, BLEU/chrF, attention maps.

    rnnkit train configs/translation/eng_fra.yaml --out runs/eng_fra
    rnnkit translate runs/eng_fra/bundle "I am cold." --beam 5 --attention-png cold.png
    rnnkit eval runs/eng_fra/bundle                  # corpus BLEU and chrF, greedy and beam 5

The same from Python::

    from rnnkit.translation import translate, evaluate_translation
    result = translate("runs/eng_fra/bundle", ["I am cold."], method="beam", beam_size=5)
    print(result.texts[0], result.attention[0].shape)   # (output tokens, source tokens)

See docs/seq2seq.md. The model is rnnkit.models.seq2seq.
"""

from rnnkit.translation.evaluate import TranslationEvaluation, TranslationScore, evaluate_translation
from rnnkit.translation.translate import Translations, translate

__all__ = ["TranslationEvaluation", "TranslationScore", "Translations", "evaluate_translation", "translate"]
