"""rnnkit.timeseries.models: shapes, decoding equivalences, losses and intervals against closed forms,
and a model that learns a noiseless sine far beyond the naive baseline."""

import math
import time

import numpy as np
import pytest
import torch

from rnnkit.timeseries import baselines, metrics
from rnnkit.timeseries.data import Frame, window_origins
from rnnkit.timeseries.forecast import predict_at_origins
from rnnkit.timeseries.models import (
    AutoencoderConfig,
    Forecaster,
    ForecasterConfig,
    LSTMAutoencoder,
    forecast_loss,
)
from rnnkit.timeseries.task import ForecastOptions, ForecastTask
from rnnkit.training.config import OptimizerConfig, RunConfig, ValidationConfig
from rnnkit.training.trainer import Trainer


@pytest.mark.parametrize("decoder", ["direct", "recursive", "seq2seq"])
@pytest.mark.parametrize("output", ["point", "gaussian", "quantile"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_shapes_and_finite_gradients(decoder, output, cell):
    torch.manual_seed(0)
    config = ForecasterConfig(horizon=5, known_size=2, hidden_size=8, decoder=decoder, output=output, cell=cell,
                              normalize="last")
    model = Forecaster(config)
    inputs, future, targets = torch.randn(3, 7, 3), torch.randn(3, 5, 2), torch.randn(3, 5)
    params = model(inputs, future, teacher=targets)
    assert params.shape == (3, 5, config.outputs_per_step)
    forecast_loss(params, targets, config).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    result = model.predict(inputs, future)
    assert result.point.shape == (3, 5)
    assert (result.lower is None) == (output == "point")
    if result.lower is not None:
        assert (result.lower <= result.point + 1e-6).all() and (result.point <= result.upper + 1e-6).all()


def test_recursive_decoding_feeds_its_own_forecasts():
    torch.manual_seed(0)
    model = Forecaster(ForecasterConfig(horizon=4, hidden_size=6, decoder="recursive")).eval()
    window = torch.randn(2, 9, 1)
    with torch.no_grad():
        free = model(window)[..., 0]  # (2, 4)
        # the same by hand: extend the window with each forecast and ask for one step at a time
        seq, steps = window, []
        for _ in range(4):
            out, _ = model.encoder(seq)
            steps.append(model.head(out[:, -1])[:, 0])
            seq = torch.cat([seq, steps[-1].view(2, 1, 1)], dim=1)
    torch.testing.assert_close(free, torch.stack(steps, 1), rtol=1e-5, atol=1e-5)
    # teacher forcing with the model's own forecasts as the "truth" gives the same numbers
    model.train()
    with torch.no_grad():
        torch.testing.assert_close(model(window, teacher=free)[..., 0], free, rtol=1e-5, atol=1e-5)


def test_normalize_last_is_shift_equivariant():
    torch.manual_seed(0)
    for output in ("point", "gaussian", "quantile"):
        model = Forecaster(ForecasterConfig(horizon=3, hidden_size=5, normalize="last", output=output)).eval()
        x = torch.randn(2, 6, 1)
        with torch.no_grad():
            a, b = model(x), model(x + 10.0)
        torch.testing.assert_close(b[..., :1], a[..., :1] + 10.0)  # mean / point / first quantile
        if output == "gaussian":
            torch.testing.assert_close(b[..., 1], a[..., 1])  # σ does not move


def test_gaussian_loss_and_interval_closed_form():
    config = ForecasterConfig(horizon=1, output="gaussian", coverage=0.8)
    params = torch.tensor([[[1.0, 2.0]]])
    y = torch.tensor([[3.0]])
    nll = 0.5 * math.log(2 * math.pi) + math.log(2.0) + 0.5 * ((3 - 1) / 2) ** 2
    assert float(forecast_loss(params, y, config)) == pytest.approx(nll, rel=1e-6)
    from rnnkit.timeseries.inference import prediction_interval

    interval = prediction_interval(params, config)
    z = 1.2815515655446004  # Φ⁻¹(0.9)
    assert float(interval.lower) == pytest.approx(1 - z * 2, rel=1e-5)
    assert float(interval.upper) == pytest.approx(1 + z * 2, rel=1e-5)


def test_quantile_loss_matches_the_pinball_metric():
    config = ForecasterConfig(horizon=2, output="quantile", quantiles=(0.1, 0.5, 0.9))
    params = torch.tensor([[[0.0, 1.0, 2.0], [3.0, 1.0, -1.0]]])
    y = torch.tensor([[1.5, 0.5]])
    expected = np.mean([metrics.pinball(y.numpy(), params[..., i].numpy(), q) for i, q in enumerate((0.1, 0.5, 0.9))])
    assert float(forecast_loss(params, y, config)) == pytest.approx(expected)


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="input_size: expected 1 with decoder 'recursive'"):
        ForecasterConfig(decoder="recursive", input_size=3)
    with pytest.raises(ValueError, match="quantiles: expected the interval levels 0.05 and 0.95"):
        ForecasterConfig(output="quantile", coverage=0.9)
    with pytest.raises(ValueError, match="decoder: expected 'direct', 'recursive' or 'seq2seq'"):
        ForecasterConfig(decoder="attention")
    with pytest.raises(ValueError, match=r"inputs: expected shape \(B, W, 1\)"):
        Forecaster(ForecasterConfig(horizon=2))(torch.zeros(1, 4, 2))
    with pytest.raises(ValueError, match="horizon: a direct model forecasts exactly 2 steps"):
        Forecaster(ForecasterConfig(horizon=2))(torch.zeros(1, 4, 1), horizon=3)


def test_autoencoder_shapes():
    model = LSTMAutoencoder(AutoencoderConfig(input_size=2, window=6, hidden_size=4))
    assert model(torch.randn(3, 6, 2)).shape == (3, 6, 2)
    with pytest.raises(ValueError, match=r"x: expected shape \(B, T, 2\)"):
        model(torch.randn(3, 6, 1))


def test_lstm_learns_a_noiseless_sine_far_beyond_naive():
    torch.manual_seed(0)
    t = np.arange(600)
    stamps = np.datetime64("2020-01-01T00", "h") + t.astype("timedelta64[h]")
    frame = Frame(np.sin(2 * np.pi * t / 24)[:, None], ("y",), stamps, "sine")
    options = ForecastOptions(dataset="sine", window=36, horizon=12, batch_size=32,
                              model=ForecasterConfig(hidden_size=24))
    task = ForecastTask(options, seed=0, frame=frame)
    config = RunConfig(task="forecast", seed=0, device="cpu", max_steps=150, clip_norm=1.0,
                       optimizer=OptimizerConfig(name="adam", lr=0.01), validation=ValidationConfig(every=0))
    tic = time.perf_counter()
    trainer = Trainer(task, config, out_dir=None)
    trainer.fit()
    elapsed = time.perf_counter() - tic
    data = task.data
    origins = window_origins(data.splits.test, 36, 12, history_start=0)
    truth = data.past[origins[:, None] + np.arange(12), 0]
    model_mse = metrics.mse(truth, predict_at_origins(trainer.model, data.past, data.known, origins, 36).point)
    naive_mse = metrics.mse(truth, baselines.naive(data.past[:, 0], origins, 12))
    assert model_mse < 0.02 * naive_mse, (model_mse, naive_mse, elapsed)
