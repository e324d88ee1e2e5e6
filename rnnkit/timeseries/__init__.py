"""Time series with recurrent networks: forecasting (one step and multi-horizon) and anomaly detection,
judged against classical baselines on the same splits and origins. See docs/timeseries.md.

    data       reading the shipped CSVs, splits by time, training-only scaling, windows, rolling origins,
               calendar covariates
    inference  from a forecaster's outputs to forecasts: point, prediction interval, forecasts at many origins
    models     Forecaster (direct / recursive / seq2seq; point / Gaussian / quantile), LSTMAutoencoder
    baselines  naive, seasonal naive, ETS and ARIMA (statsmodels)
    metrics    MAE, RMSE, MASE, sMAPE, coverage, pinball; precision / recall / F1
    anomaly    residual and reconstruction scores, thresholds, seeded anomaly injection, rolling z-score
    task       the `forecast` and `anomaly_autoencoder` training tasks (rnnkit train)
    forecast   forecast(bundle, series, horizon) and detect(bundle, series): rnnkit forecast / detect

Imports run one way, with no cycle (tests/timeseries/test_imports.py): inference <- models <- task;
inference and metrics <- anomaly; anomaly, data, inference and models <- forecast, which no module here imports.
"""
