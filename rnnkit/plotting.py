"""matplotlib for every PNG rnnkit writes: imported on first use, on the Agg backend (no display needed).

matplotlib is optional (the ``plot``, ``translate`` and ``timeseries`` extras), so modules that draw call
:func:`pyplot` inside the function that draws, never at import.
"""

from __future__ import annotations

from typing import Any

__all__ = ["pyplot"]


def pyplot(what: str, extra: str = "plot") -> Any:
    """``matplotlib.pyplot`` on the Agg backend; ImportError naming ``what`` needs it and the extra to install."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(f"{error}; {what} needs matplotlib: pip install 'rnnkit[{extra}]'") from None
    return plt
