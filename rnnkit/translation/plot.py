"""Attention heatmaps: which source tokens the decoder looked at for each output token.

    from rnnkit.translation import translate
    from rnnkit.translation.plot import plot_attention
    result = translate("runs/eng_fra/bundle", ["I am cold."], method="beam")
    plot_attention(result.attention[0], result.source_tokens[0], result.output_tokens[0], "cold.png")

Source tokens run along the x axis (columns), output tokens down the y axis (rows); each row sums to 1.
Needs matplotlib (``pip install 'rnnkit[translate]'``); it is imported here only, with the Agg backend.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

from torch import Tensor

__all__ = ["plot_attention"]


def plot_attention(weights: Tensor, source_tokens: Sequence[str], output_tokens: Sequence[str],
                   path: str | Path, *, title: str | None = None, dpi: int = 100) -> Path:
    """Write a heatmap PNG of ``weights`` (len(output_tokens), len(source_tokens)) to ``path``; return it."""
    if weights is None:
        raise ValueError("weights: expected an attention matrix, got None (a model with attention 'none' has "
                         "no attention weights to plot)")
    if not isinstance(weights, Tensor) or weights.dim() != 2:
        got = tuple(weights.shape) if isinstance(weights, Tensor) else type(weights).__name__
        raise ValueError(f"weights: expected a 2-D tensor (outputs, sources), got {got}")
    expected = (len(output_tokens), len(source_tokens))
    if tuple(weights.shape) != expected:
        raise ValueError(f"weights: expected shape {expected} (output tokens, source tokens), got "
                         f"{tuple(weights.shape)}")
    from rnnkit.plotting import pyplot

    plt = pyplot("an attention plot", "translate")
    from matplotlib import font_manager

    # CJK tokens need a font that has them; use one if the system has it (no download)
    cjk = [f.name for f in font_manager.fontManager.ttflist if any(k in f.name for k in ("CJK", "WenQuanYi",
                                                                                         "Heiti", "SimHei"))]
    rc = {"font.sans-serif": [cjk[0], "DejaVu Sans"]} if cjk else {}
    with plt.rc_context(rc):
        width = max(3.0, 0.45 * len(source_tokens) + 1.5)
        height = max(2.5, 0.4 * len(output_tokens) + 1.2)
        figure, axes = plt.subplots(figsize=(width, height))
        image = axes.imshow(weights.detach().float().cpu().numpy(), cmap="viridis", vmin=0.0, vmax=1.0,
                            aspect="auto")
        axes.set_xticks(range(len(source_tokens)), list(source_tokens), rotation=60, ha="right")
        axes.set_yticks(range(len(output_tokens)), list(output_tokens))
        axes.set_xlabel("source")
        axes.set_ylabel("output")
        if title:
            axes.set_title(textwrap.fill(title, width=int(width * 9)), fontsize=9)
        figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
        figure.tight_layout()
        path = Path(path)
        figure.savefig(path, dpi=dpi)
        plt.close(figure)
    return path
