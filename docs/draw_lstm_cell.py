"""Draw the LSTM cell of docs/layers.md: python docs/draw_lstm_cell.py [OUT.png]

The picture follows the equations of rnnkit.cells.LSTMCell: the four gates are computed from x_t and h_{t-1},
the cell state runs along the top (c' = f ⊙ c + i ⊙ g), and the output h' = o ⊙ tanh(c') leaves at the right.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch  # noqa: E402

GATE_COLOR = "#f6c85f"
OP_COLOR = "#9dd9d2"
STATE_COLOR = "#6f4e7c"


def arrow(ax, start, end, color="black", style="-|>", connection="arc3"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=14, lw=1.6, color=color,
                                 connectionstyle=connection, shrinkA=0, shrinkB=0))


def gate(ax, x, y, label, name):
    ax.add_patch(FancyBboxPatch((x - 0.35, y - 0.3), 0.7, 0.6, boxstyle="round,pad=0.05", fc=GATE_COLOR, ec="black"))
    ax.text(x, y, label, ha="center", va="center", fontsize=15)
    ax.text(x + 0.42, y + 0.42, name, ha="left", va="center", fontsize=13, style="italic")


def op(ax, x, y, label):
    ax.add_patch(Circle((x, y), 0.25, fc=OP_COLOR, ec="black", zorder=3))
    ax.text(x, y, label, ha="center", va="center", fontsize=14, zorder=4)


def draw(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(10, 6))
    ax.set_xlim(-1.5, 10.5)
    ax.set_ylim(-2.6, 6.2)
    ax.axis("off")
    ax.add_patch(FancyBboxPatch((0.3, -0.2), 8.4, 5.6, boxstyle="round,pad=0.1", fc="#f4f4f4", ec="#888888"))

    # inputs: h_{t-1} and x_t meet at the bottom and feed all four gates
    ax.text(-1.3, 0.6, r"$h_{t-1}$", fontsize=16, va="center")
    ax.text(0.9, -1.3, r"$x_t$", fontsize=16, ha="center")
    ax.text(-1.3, 4.6, r"$c_{t-1}$", fontsize=16, va="center")
    arrow(ax, (-0.6, 0.6), (6.0, 0.6), style="-")
    arrow(ax, (0.9, -1.0), (0.9, 0.6), style="-")
    gates = [(1.8, r"$\sigma$", "f"), (3.2, r"$\sigma$", "i"), (4.6, "tanh", "g"), (6.0, r"$\sigma$", "o")]
    for x, label, name in gates:
        arrow(ax, (x, 0.6), (x, 1.7))
        gate(ax, x, 2.0, label, name)

    # cell state line along the top: c' = f ⊙ c + i ⊙ g
    op(ax, 1.8, 4.6, "×")
    op(ax, 4.6, 4.6, "+")
    op(ax, 3.9, 3.4, "×")
    arrow(ax, (-0.6, 4.6), (1.55, 4.6), color=STATE_COLOR)
    arrow(ax, (2.05, 4.6), (4.35, 4.6), color=STATE_COLOR)
    arrow(ax, (4.85, 4.6), (9.6, 4.6), color=STATE_COLOR)
    ax.text(9.7, 4.6, r"$c_t$", fontsize=16, va="center")
    arrow(ax, (1.8, 2.35), (1.8, 4.35))  # f -> ×
    arrow(ax, (3.2, 2.35), (3.68, 3.27), connection="arc3,rad=-0.2")  # i -> ×
    arrow(ax, (4.6, 2.35), (4.12, 3.27), connection="arc3,rad=0.2")  # g -> ×
    arrow(ax, (3.9, 3.65), (4.42, 4.42))  # i ⊙ g -> +

    # output: h' = o ⊙ tanh(c')
    ax.add_patch(FancyBboxPatch((7.05, 3.35), 0.7, 0.5, boxstyle="round,pad=0.05", fc=OP_COLOR, ec="black"))
    ax.text(7.4, 3.6, "tanh", ha="center", va="center", fontsize=12)
    arrow(ax, (7.4, 4.6), (7.4, 3.9))
    op(ax, 7.4, 2.0, "×")
    arrow(ax, (7.4, 3.3), (7.4, 2.25))
    arrow(ax, (6.35, 2.0), (7.15, 2.0))
    arrow(ax, (7.65, 2.0), (8.2, 2.0), style="-")
    arrow(ax, (8.2, 2.0), (8.2, 0.0), style="-")
    arrow(ax, (8.2, 0.0), (9.6, 0.0))
    arrow(ax, (8.2, 2.0), (8.2, 5.9))
    ax.text(9.7, 0.0, r"$h_t$", fontsize=16, va="center")
    ax.text(8.35, 5.8, r"$h_t$ (output)", fontsize=13, va="center")

    ax.text(4.5, -2.1, r"$(i, f, g, o)$ = row blocks of $W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}$, through $\sigma, \sigma, \tanh, \sigma$"
            "\n" r"$c_t = f \odot c_{t-1} + i \odot g$,   $h_t = o \odot \tanh(c_t)$",
            ha="center", va="center", fontsize=12)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("lstm_cell.png")
    draw(out)
    print(f"wrote {out}")
