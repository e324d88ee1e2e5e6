r"""Recurrent forecasters and an LSTM autoencoder, batch first, on scaled series.

**Forecaster** (bundle kind ``forecaster``). An encoder (rnnkit.LSTM or rnnkit.GRU) reads the input window,
each step's features being the past-observed ones (the target first, then past-only covariates) followed
by the known covariates of that row (e.g. calendar features). Three ways to produce the H-step forecast:

* ``decoder="direct"`` (direct multi-horizon, "DMS"): one linear head maps the encoder's last output h_T and
  the flattened known covariates of the horizon to all H steps at once.
* ``decoder="recursive"`` (autoregressive, "IMS"): a one-step head; at forecast time the model feeds its own
  prediction back as the next input, H times. Trained with teacher forcing (the true previous value is fed)
  on the H horizon steps; validation runs it free, feeding its predictions, so ``val_loss`` measures the
  forecast it will really make. Past-only covariates cannot be fed forward, so it takes the target (and
  known covariates) only.
* ``decoder="seq2seq"``: a second recurrent network (same cell and size, its own weights) starts from the
  encoder's final state and runs over the H horizon steps, reading the known covariates of each step and its
  relative position (k + 1) / H; a linear head reads each decoder output. It does not feed predictions back
  (no exposure bias), in the spirit of MQ-RNN (Wen et al. 2017, arXiv:1711.11053, section 3).

Outputs, per horizon step: ``output="point"`` one value (MSE loss); ``"gaussian"`` a mean and a standard
deviation σ = softplus(raw) + 1e-3 (Gaussian negative log-likelihood, as DeepAR, Salinas et al. 2020,
arXiv:1704.04110, section 3.1); ``"quantile"`` one value per quantile q (pinball loss, max(q e, (q − 1) e)
with e = y − ŷ; quantiles are sorted at prediction so they never cross). Prediction intervals at
``coverage``: mean ± Φ⁻¹((1 + c)/2) σ, or the (1 − c)/2 and (1 + c)/2 quantiles.

``normalize="last"`` subtracts the window's last target value from the target inputs and adds it back to
the forecast (as NLinear, Zeng et al. 2023, arXiv:2205.13504, section 3): a level shift between training and
test data then does not move the model out of the range it was trained on.

**LSTMAutoencoder** (bundle kind ``autoencoder``): an encoder reads a window, its last output is repeated at
every step as the input of a decoder, and a linear layer reconstructs the window (the repeated-vector variant
of Malhotra et al. 2016, arXiv:1607.00148, section 2). The reconstruction error is the anomaly score.

Shape (B batch, W window, H horizon, F past features, K known covariates, P outputs per step: 1, 2 or Q):

    inputs (B, W, F + K), future (B, H, K) -> forward -> (B, H, P)
    predict -> Forecast(point (B, H), lower (B, H) or None, upper (B, H) or None)

Example:
    >>> import torch
    >>> model = Forecaster(ForecasterConfig(horizon=4, hidden_size=8, output="gaussian"))
    >>> model.predict(torch.zeros(2, 12, 1), torch.zeros(2, 4, 0)).point.shape
    torch.Size([2, 4])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import rnnkit
from rnnkit.timeseries.inference import Forecast, point_forecast, prediction_interval

# Forecast, point_forecast and prediction_interval live in rnnkit.timeseries.inference; re-exported here
__all__ = ["AutoencoderConfig", "Forecast", "Forecaster", "ForecasterConfig", "LSTMAutoencoder", "forecast_loss",
           "point_forecast", "prediction_interval"]

MIN_SIGMA = 1e-3


def _check_int(name: str, value: object, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")


def _check_recurrent(config: ForecasterConfig | AutoencoderConfig) -> None:
    """The recurrent network's settings, shared by both configs."""
    _check_int("hidden_size", config.hidden_size, 1)
    _check_int("num_layers", config.num_layers, 1)
    if config.cell not in ("lstm", "gru"):
        raise ValueError(f"cell: expected 'lstm' or 'gru', got {config.cell!r}")


@dataclass(frozen=True)
class ForecasterConfig:
    input_size: int = 1  # F: past-observed features per step, the target first
    known_size: int = 0  # K: known-future covariates per step (calendar features); 0: none
    horizon: int = 24  # H: steps forecast at once
    cell: Literal["lstm", "gru"] = "lstm"
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0  # between recurrent layers
    decoder: Literal["direct", "recursive", "seq2seq"] = "direct"
    output: Literal["point", "gaussian", "quantile"] = "point"
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)  # output "quantile": the levels predicted, ascending
    coverage: float = 0.8  # nominal coverage of the prediction interval
    normalize: Literal["none", "last"] = "none"  # "last": forecast relative to the window's last value
    backend: str = "auto"  # rnnkit layer backend: "auto" | "loop" | "native"

    def __post_init__(self) -> None:
        _check_int("input_size", self.input_size, 1)
        _check_int("known_size", self.known_size, 0)
        _check_int("horizon", self.horizon, 1)
        _check_recurrent(self)
        if self.decoder not in ("direct", "recursive", "seq2seq"):
            raise ValueError(f"decoder: expected 'direct', 'recursive' or 'seq2seq', got {self.decoder!r}")
        if self.output not in ("point", "gaussian", "quantile"):
            raise ValueError(f"output: expected 'point', 'gaussian' or 'quantile', got {self.output!r}")
        if self.normalize not in ("none", "last"):
            raise ValueError(f"normalize: expected 'none' or 'last', got {self.normalize!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout: expected a value in [0, 1), got {self.dropout!r}")
        if not 0 < self.coverage < 1:
            raise ValueError(f"coverage: expected a value in (0, 1), got {self.coverage!r}")
        if self.decoder == "recursive" and self.input_size != 1:
            raise ValueError(f"input_size: expected 1 with decoder 'recursive' (it feeds back its own forecasts and "
                             f"cannot forecast past-only covariates), got {self.input_size}; use decoder 'direct' "
                             "or 'seq2seq', or drop the past-only covariates")
        if self.output == "quantile":
            levels = tuple(self.quantiles)
            if not levels or any(not 0 < q < 1 for q in levels) or list(levels) != sorted(set(levels)):
                raise ValueError(f"quantiles: expected distinct ascending levels in (0, 1), got {self.quantiles!r}")
            for level in ((1 - self.coverage) / 2, (1 + self.coverage) / 2):
                if not any(abs(q - level) < 1e-9 for q in levels):
                    raise ValueError(f"quantiles: expected the interval levels {(1 - self.coverage) / 2:.3g} and "
                                     f"{(1 + self.coverage) / 2:.3g} for coverage={self.coverage} among them, got "
                                     f"{self.quantiles!r}")

    @property
    def outputs_per_step(self) -> int:
        return {"point": 1, "gaussian": 2, "quantile": len(self.quantiles)}[self.output]


def _config(config: object, config_class: type, expected: str) -> object:
    """``config``, or the default ``config_class()`` for None; a TypeError for any other type."""
    config = config or config_class()
    if not isinstance(config, config_class):
        raise TypeError(f"config: expected {expected}, got {type(config).__name__}")
    return config


def _recurrent(cell: str, input_size: int, config: ForecasterConfig | AutoencoderConfig) -> nn.Module:
    layer = rnnkit.LSTM if cell == "lstm" else rnnkit.GRU
    dropout = getattr(config, "dropout", 0.0) if config.num_layers > 1 else 0.0
    return layer(input_size, config.hidden_size, config.num_layers, batch_first=True, dropout=dropout,
                 backend=config.backend)


class Forecaster(nn.Module):
    """LSTM/GRU forecaster: direct, recursive or seq2seq decoding; point, Gaussian or quantile output."""

    def __init__(self, config: ForecasterConfig | None = None):
        super().__init__()
        self.config = config = _config(config, ForecasterConfig, "a ForecasterConfig")
        c, steps, per_step = config, config.horizon, config.outputs_per_step
        self.encoder = _recurrent(c.cell, c.input_size + c.known_size, c)
        if c.decoder == "direct":
            self.head = nn.Linear(c.hidden_size + steps * c.known_size, steps * per_step)
        elif c.decoder == "recursive":
            self.head = nn.Linear(c.hidden_size, per_step)
        else:
            self.decoder = _recurrent(c.cell, c.known_size + 1, c)
            self.head = nn.Linear(c.hidden_size, per_step)

    # ------------------------------------------------------------------------------------------ forward
    def forward(self, inputs: Tensor, future: Tensor | None = None, *, teacher: Tensor | None = None,
                horizon: int | None = None) -> Tensor:
        """Distribution parameters for each horizon step, in the (scaled) units of the target.

        Args:
            inputs: (B, W, F + K) window: past features (target first), then known covariates.
            future: (B, H, K) known covariates of the horizon; None when K = 0.
            teacher: (B, H) true targets; a recursive model in training mode feeds them instead of its own
                forecasts (teacher forcing). Ignored otherwise.
            horizon: steps to forecast (default config.horizon); only a recursive model may differ.

        Returns (B, H, P): point (P = 1); mean and σ (P = 2); or the quantiles (P = Q, unsorted).
        """
        c = self.config
        steps = c.horizon if horizon is None else horizon
        if steps != c.horizon and c.decoder != "recursive":
            raise ValueError(f"horizon: a {c.decoder} model forecasts exactly {c.horizon} steps, got {steps}")
        if inputs.dim() != 3 or inputs.size(-1) != c.input_size + c.known_size:
            raise ValueError(f"inputs: expected shape (B, W, {c.input_size + c.known_size}), got {tuple(inputs.shape)}")
        if future is None:
            future = inputs.new_zeros(inputs.size(0), steps, c.known_size)
        if future.shape != (inputs.size(0), steps, c.known_size):
            raise ValueError(f"future: expected shape ({inputs.size(0)}, {steps}, {c.known_size}), "
                             f"got {tuple(future.shape)}")
        level = inputs[:, -1, 0] if c.normalize == "last" else inputs.new_zeros(inputs.size(0))  # (B,)
        inputs = torch.cat([inputs[..., :1] - level[:, None, None], inputs[..., 1:]], dim=-1)
        if c.decoder == "direct":
            out, _ = self.encoder(inputs)  # (B, W, Hd)
            features = torch.cat([out[:, -1], future.flatten(1)], dim=-1)  # (B, Hd + H K)
            raw = self.head(features).view(inputs.size(0), steps, -1)  # (B, H, P)
        elif c.decoder == "seq2seq":
            _, state = self.encoder(inputs)
            position = torch.arange(1, steps + 1, dtype=inputs.dtype, device=inputs.device) / steps
            decoder_in = torch.cat([future, position.view(1, -1, 1).expand(inputs.size(0), -1, 1)], dim=-1)
            out, _ = self.decoder(decoder_in, state)  # (B, H, Hd)
            raw = self.head(out)
        elif teacher is not None and self.training:
            previous = torch.cat([teacher[:, :-1, None] - level[:, None, None], future[:, :-1]], dim=-1)
            out, _ = self.encoder(torch.cat([inputs, previous], dim=1))  # (B, W + H - 1, Hd)
            raw = self.head(out[:, inputs.size(1) - 1:])  # (B, H, P): step k predicts row t + k
        else:
            out, state = self.encoder(inputs)
            step_raw = self.head(out[:, -1:])  # (B, 1, P)
            raws = [step_raw]
            for k in range(1, steps):
                value = point_forecast(self._transform(step_raw), c)  # (B, 1) its own forecast, fed back
                step_in = torch.cat([value[..., None], future[:, k - 1:k]], dim=-1)  # (B, 1, 1 + K)
                out, state = self.encoder(step_in, state)
                step_raw = self.head(out)
                raws.append(step_raw)
            raw = torch.cat(raws, dim=1)
        params = self._transform(raw)
        if c.output == "gaussian":  # shift the mean, not σ
            return torch.cat([params[..., :1] + level[:, None, None], params[..., 1:]], dim=-1)
        return params + level[:, None, None]

    def _transform(self, raw: Tensor) -> Tensor:
        if self.config.output == "gaussian":
            return torch.cat([raw[..., :1], F.softplus(raw[..., 1:]) + MIN_SIGMA], dim=-1)
        return raw

    def predict(self, inputs: Tensor, future: Tensor | None = None, *, horizon: int | None = None) -> Forecast:
        """Point forecast and prediction interval (at config.coverage), without gradients, in eval mode."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                params = self(inputs, future, horizon=horizon)
        finally:
            self.train(was_training)
        return prediction_interval(params, self.config)


def forecast_loss(params: Tensor, targets: Tensor, config: ForecasterConfig) -> Tensor:
    """Mean loss of (B, H, P) parameters against (B, H) targets: MSE, Gaussian NLL (with the ½ log 2π
    constant) or pinball loss averaged over the quantiles."""
    if config.output == "point":
        return F.mse_loss(params[..., 0], targets)
    if config.output == "gaussian":
        return F.gaussian_nll_loss(params[..., 0], targets, params[..., 1] ** 2, full=True, eps=MIN_SIGMA ** 2)
    levels = params.new_tensor(config.quantiles)  # (Q,)
    error = targets[..., None] - params  # (B, H, Q)
    return torch.maximum(levels * error, (levels - 1) * error).mean()


# ------------------------------------------------------------------------------------------------ autoencoder

@dataclass(frozen=True)
class AutoencoderConfig:
    input_size: int = 1  # F: features per step
    window: int = 48  # T: steps per reconstructed window
    cell: Literal["lstm", "gru"] = "lstm"
    hidden_size: int = 32  # the bottleneck: the encoder's last output
    num_layers: int = 1
    backend: str = "auto"

    def __post_init__(self) -> None:
        _check_int("input_size", self.input_size, 1)
        _check_int("window", self.window, 2)
        _check_recurrent(self)


class LSTMAutoencoder(nn.Module):
    """Window reconstruction: (B, T, F) -> (B, T, F) through a hidden_size bottleneck (see module docstring)."""

    def __init__(self, config: AutoencoderConfig | None = None):
        super().__init__()
        self.config = config = _config(config, AutoencoderConfig, "an AutoencoderConfig")
        self.encoder = _recurrent(config.cell, config.input_size, config)
        self.decoder = _recurrent(config.cell, config.hidden_size, config)
        self.head = nn.Linear(config.hidden_size, config.input_size)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.size(-1) != self.config.input_size:
            raise ValueError(f"x: expected shape (B, T, {self.config.input_size}), got {tuple(x.shape)}")
        out, _ = self.encoder(x)  # (B, T, Hd)
        code = out[:, -1:].expand(-1, x.size(1), -1)  # (B, 1, Hd) -> (B, T, Hd): the code at every step
        decoded, _ = self.decoder(code.contiguous())
        return self.head(decoded)  # (B, T, F)


def _register() -> None:
    from rnnkit.bundle import register_kind

    register_kind("forecaster", Forecaster, ForecasterConfig)
    register_kind("autoencoder", LSTMAutoencoder, AutoencoderConfig)


_register()
