"""The `rnnkit` command: a flat typer app, one small function per command, each calling one public function.

    rnnkit train configs/tiny.yaml --set optimizer.lr=0.003 --out runs/tiny [--resume]
    rnnkit summary configs/tiny.yaml
    rnnkit diagnose configs/tiny.yaml --set task_options.cell=rnn --out elman.png
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from rnnkit import catalog

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Recurrent networks: train, inspect, diagnose.")

ConfigArgument = Annotated[Path, typer.Argument(help="Run config (YAML), e.g. configs/tiny.yaml.")]
SetOption = Annotated[
    list[str],
    typer.Option("--set", help="Override a config key: --set optimizer.lr=0.01 (repeatable; the value is YAML)."),
]


def _fail(error: Exception) -> None:
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        path = f"{error.filename} -> {error.filename2}" if error.filename2 else error.filename  # a rename
        message = f"{path}: {error.strerror}"  # what the system refused, on which path
    else:
        message = str(error)
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def _check_writable(path: Path, option: str, *, file: bool = False) -> None:
    """Stop with one error line naming ``option`` unless ``path`` can be written: a folder (``file=False``, made
    later if missing) or a file in one. Nothing is created, so a later error leaves no empty folder behind."""
    if file and path.is_dir():
        _fail(ValueError(f"{option}: expected a file to write, got the folder {str(path)!r}"))
    if not file and path.exists() and not path.is_dir():
        _fail(ValueError(f"{option}: expected a folder, got the file {str(path)!r}"))
    existing = path.parent if file else path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # the folders up to here will be created
    if not existing.is_dir():
        _fail(ValueError(f"{option}: expected a path in a writable folder, got {str(path)!r}, inside the file "
                         f"{str(existing)!r}"))
    if not os.access(existing, os.W_OK | os.X_OK):
        _fail(ValueError(f"{option}: expected a path in a writable folder, got {str(path)!r}; the folder "
                         f"{str(existing)!r} is not writable (permission denied)"))


InputOption = Annotated[
    Path | None,
    typer.Option("--input", help="Read the inputs from this file, one per line (blank lines skipped); '-': stdin."),
]


def _read_inputs(arguments: list[str] | None, input_file: Path | None, what: str) -> list[str]:
    """The inputs of a command: its arguments, or one per line from ``--input FILE`` or stdin (``-`` as the only
    argument or as the file); blank lines are skipped. Stops with one error line naming the argument."""
    arguments = list(arguments or [])
    if input_file is not None and arguments:
        _fail(ValueError(f"--input: expected {what} either as arguments or from --input, got both "
                         f"(--input {input_file} and {len(arguments)} argument(s))"))
    if input_file is None and arguments == ["-"]:
        input_file = Path("-")
    if input_file is None:
        if not arguments:
            _fail(ValueError(f"{what.upper()}: expected one or more {what} as arguments, '-' (stdin) or --input "
                             "FILE, got none"))
        return arguments
    name = "stdin" if str(input_file) == "-" else repr(str(input_file))
    try:
        text = sys.stdin.read() if str(input_file) == "-" else input_file.read_text(encoding="utf-8")
    except OSError as error:
        _fail(ValueError(f"--input: expected a readable text file, got {name} ({error.strerror or error})"))
    except UnicodeDecodeError as error:
        _fail(ValueError(f"--input: expected UTF-8 text, got {name} ({error.reason} at byte {error.start})"))
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        _fail(ValueError(f"--input: expected {what}, one per line, got no non-blank line from {name}"))
    return lines


def _version_callback(value: bool) -> None:
    if value:
        from rnnkit import __version__

        typer.echo(f"rnnkit {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Recurrent networks: train, inspect, diagnose."""


@app.command()
def train(
    config: ConfigArgument,
    set_: SetOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run folder (default runs/<config name>).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the newest good checkpoint in --out.")] = False,
) -> None:
    """Train a model as the config says: checkpoints and metrics.csv go to the run folder."""
    set_ = set_ or []
    from rnnkit.training import TrainingDiverged
    from rnnkit.training.progress import LogProgress, RichProgress
    from rnnkit.training.run import load_run
    from rnnkit.training.run import train as run_training

    try:
        run = load_run(config, set_)  # validates everything before any work
        max_steps, log_every = run.config.max_steps, run.config.log_every
    except (ValueError, TypeError, FileNotFoundError) as error:
        _fail(error)
    _check_writable(out if out is not None else Path("runs") / config.stem, "--out")
    if sys.stdout.isatty():
        from rich.logging import RichHandler

        logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[RichHandler(show_path=False)])
        display = RichProgress(max_steps)
    else:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout, force=True)
        display = LogProgress(log_every)
    try:
        if isinstance(display, RichProgress):
            with display:
                result = run_training(config, set_, out_dir=out, resume=resume, callbacks=[display])
        else:
            result = run_training(config, set_, out_dir=out, resume=resume, callbacks=[display])
    except TrainingDiverged as error:
        typer.echo(f"training diverged: {error}", err=True)
        raise typer.Exit(code=1) from None
    except (ValueError, TypeError, OSError) as error:
        _fail(error)
    metrics = " ".join(f"{k} {v:.4f}" for k, v in result.metrics.items())
    typer.echo(f"done: step {result.step} ({result.stopped}) {metrics} -> {result.out_dir}")
    if result.out_dir is not None and (Path(result.out_dir) / "bundle" / "bundle.json").is_file():
        typer.echo(f"bundle: {Path(result.out_dir) / 'bundle'}")
    if result.stopped == "interrupted":  # Ctrl-C: the checkpoint and bundle are written, the exit says SIGINT
        raise typer.Exit(code=130)


@app.command()
def summary(
    config: ConfigArgument,
    set_: SetOption = None,
) -> None:
    """Parameters per layer, FLOPs per token and per step, memory estimate."""
    set_ = set_ or []
    from rich.console import Console
    from rich.table import Table

    from rnnkit.training.summary import summarize

    try:
        report = summarize(config, set_)
    except (ValueError, TypeError, FileNotFoundError) as error:
        _fail(error)
    table = Table(title=f"{config}")
    for column in ("layer", "kind", "parameters", "forward FLOPs/token"):
        table.add_column(column, justify="left" if column in ("layer", "kind") else "right")
    for row in report.layers:
        table.add_row(row.name, row.kind, f"{row.parameters:,}", f"{row.flops_per_token:,}")
    table.add_row("total", "", f"{report.parameters:,}", f"{report.flops_per_token:,}", style="bold")
    console = Console()
    console.print(table)
    console.print(f"items per step {report.items_per_step:,}; training FLOPs per step ~{report.train_flops_per_step:,}")
    console.print("memory (training): " + ", ".join(f"{k} {v / 2**20:.2f} MiB" for k, v in report.memory_bytes.items()))


@app.command()
def diagnose(
    config: ConfigArgument,
    set_: SetOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="PNG to write (default runs/<config name>/"
                                                            "gradient-flow.png).")] = None,
    loss: Annotated[str, typer.Option("--loss", help="'task': the task's loss; 'last': the last position only.")] = "task",
) -> None:
    """Plot the norm of dLoss/dh_t against the distance from the loss, and per-parameter gradient norms."""
    set_ = set_ or []
    from rnnkit.diagnostics import default_plot_path
    from rnnkit.diagnostics import diagnose as run_diagnosis

    out = out or default_plot_path(config)
    _check_writable(out, "--out", file=True)
    try:
        flow = run_diagnosis(config, set_, out=out, loss=loss)
    except (ValueError, TypeError, OSError, ImportError) as error:
        _fail(error)
    for name, norms in flow.hidden.items():
        typer.echo(f"{name}: |dL/dh_t| last step {float(norms[-1]):.3g}, first step {float(norms[0]):.3g}")
    typer.echo(f"wrote {out}")



@app.command()
def poem(
    form: Annotated[str | None, typer.Option(help="wujue | qijue | wulv | qilv (default qijue; qilv for an 8-character acrostic).")] = None,
    num: Annotated[int, typer.Option(help="Poems to write.")] = 1,
    acrostic: Annotated[str | None, typer.Option(help="藏头诗: line i starts with the i-th character, e.g. 春夏秋冬.")] = None,
    start: Annotated[str | None, typer.Option(help="The poem opens with these characters, e.g. 白日.")] = None,
    theme: Annotated[str | None, typer.Option(help="Lean toward these characters, e.g. 月 (a decaying logit bonus).")] = None,
    rhyme: Annotated[bool, typer.Option("--rhyme", help="Even lines end in one rhyme group (needs pypinyin).")] = False,
    seed: Annotated[int | None, typer.Option(help="Sampling seed (default: random, printed with --json).")] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature (default 1; 0: greedy).")] = None,
    top_p: Annotated[float | None, typer.Option("--top-p", help="Nucleus sampling mass (default 0.9; 1 disables).")] = None,
    beam: Annotated[int | None, typer.Option(help="Beam search of this width instead of sampling, 1: greedy (one "
                                                  "poem; no --seed, --temperature, --top-p).")] = None,
    bundle: Annotated[Path | None, typer.Option(help="Model bundle (default: the newest poem bundle under runs/).")] = None,
    json_: Annotated[bool, typer.Option("--json", help="One JSON object per poem (form, lines, settings).")] = False,
) -> None:
    """Write classical Chinese poems with a trained poem model; the form is always exact."""
    import json

    from rnnkit.decoding import DecodingOptions
    from rnnkit.poems import load_poet, write_poems

    try:  # no bundle: a FileNotFoundError that says to run `make demo`
        options = DecodingOptions.choose(beam=beam, temperature=temperature, top_p=top_p, seed=seed)
        poet = load_poet(bundle)
        poems = write_poems(poet, form=form, num=num, acrostic=acrostic, start=start, theme=theme, rhyme=rhyme,
                            method=options.method, beam=options.beam, temperature=options.temperature,
                            top_p=options.top_p, seed=options.seed)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as error:
        _fail(error)
    for item in poems:
        if json_:
            typer.echo(json.dumps(item.to_json(), ensure_ascii=False))
        else:
            typer.echo(f"{item.form_chinese}")
            for index in range(0, len(item.lines), 2):
                typer.echo(f"  {item.lines[index]}，{item.lines[index + 1]}。")
            typer.echo("")


@app.command("eval")
def eval_(
    path: Annotated[Path, typer.Argument(help="A run folder (with checkpoints/) or a model bundle folder.")],
    json_: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
) -> None:
    """Score a trained model on its held-out data, with the figures of its kind.

    \b
    Language model: validation nats per token, bits per character, perplexity.
    Translation: corpus BLEU and chrF on the test split, greedy and beam 5.
    Classifier: accuracy and macro-F1; tagger (NER): seqeval entity precision, recall, F1;
    forecaster: MAE, RMSE, MASE, sMAPE (and interval coverage); autoencoder: reconstruction MSE;
    each on the test split of the data its run config names (rnnkit.tasks.evaluate_bundle).
    """
    import json

    from rnnkit.models.evaluate import evaluate_lm

    kind = _bundle_kind(path)
    if kind is None and _bundle_kind(path / "bundle") not in (None, "language_model"):
        path, kind = path / "bundle", _bundle_kind(path / "bundle")  # a run folder: its bundle
    if kind == "seq2seq":
        return _eval_translation(path, json_)
    if kind not in (None, "language_model"):
        return _eval_task(path, json_)
    try:
        result = evaluate_lm(path)
    except (ValueError, TypeError, FileNotFoundError) as error:
        _fail(error)
    if json_:
        typer.echo(json.dumps({**result._asdict(), "source": str(result.source)}))
    else:
        typer.echo(f"{result.task} {result.source}: {result.nats_per_token:.4f} nats/token, "
                   f"{result.bits_per_token:.4f} bits/char, perplexity {result.perplexity:.2f}")


@app.command()
def experiment(
    name: Annotated[str, typer.Argument(help=" | ".join(entry.name for entry in catalog.EXPERIMENTS))],
    quick: Annotated[bool, typer.Option("--quick", help="Reduced settings: seconds instead of minutes.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the report (default runs/experiments/NAME).")] = None,
) -> None:
    """Run a long-memory experiment: metrics CSV, plots and a markdown report (see docs/experiments.md)."""
    from rnnkit.experiments import run as run_experiment

    _check_writable(out if out is not None else Path("runs") / "experiments" / name, "--out")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    try:
        result = run_experiment(name, quick, out)
    except (ValueError, TypeError, OSError, ImportError) as error:
        _fail(error)
    typer.echo(f"wrote {result.report} ({len(result.files)} files in {result.out_dir})")


@app.command("export")
def export_(
    bundle: Annotated[Path, typer.Argument(help="A model bundle folder.")],
    format: Annotated[str, typer.Option("--format", help="onnx | torchscript")] = "onnx",
    out: Annotated[Path | None, typer.Option("--out", help="File to write (default BUNDLE/model.onnx or "
                                                            "BUNDLE/model.torchscript.pt).")] = None,
    quantize: Annotated[str | None, typer.Option("--quantize", help="int8: ONNX with int8 weights "
                                                                     "(onnxruntime), default BUNDLE/model.int8.onnx.")] = None,
) -> None:
    """Export a language-model bundle to ONNX (opset 17) or TorchScript, checked against PyTorch.

    \b
    Inputs  tokens (batch, time) int64; lengths (batch,) int64;
            h0 (layers, batch, hidden) float32; c0 (same; LSTM only).
    Outputs logits (batch, time, vocab); h_n; c_n (LSTM only): the state after each row's last valid token.
    Batch and time are dynamic; one decoding step is time = 1, lengths = 1. See docs/serving.md.
    """
    from rnnkit.export import export_bundle

    if out is not None:
        _check_writable(out, "--out", file=True)
    elif bundle.is_dir():  # without --out the file goes into the bundle folder
        _check_writable(bundle, "BUNDLE (the export goes into it without --out)")
    try:
        result = export_bundle(bundle, format=format, out=out, quantize=quantize)
    except (ValueError, TypeError, OSError, ImportError) as error:
        _fail(error)
    check = (f"int8; largest difference to PyTorch {result.max_abs_error:.2g}, most probable token PyTorch's at "
             f"{result.argmax_agreement:.0%} of the check positions" if result.quantize
             else f"largest difference to PyTorch {result.max_abs_error:.2g}")
    typer.echo(f"wrote {result.path} ({result.format}; inputs {', '.join(result.inputs)}; outputs "
               f"{', '.join(result.outputs)}; {check})")


@app.command()
def serve(
    bundle: Annotated[Path, typer.Argument(help="A model bundle folder.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    max_batch: Annotated[int, typer.Option("--max-batch", help="Requests run together (1: no batching).")] = 8,
    quantize: Annotated[str | None, typer.Option("--quantize", help="int8: serve an int8 copy of the model "
                                                                     "(CPU inference, rnnkit.quantize).")] = None,
) -> None:
    """Serve a bundle over HTTP: language models /v1/generate, /v1/completions and /v1/poem, classifiers and
    taggers /v1/predict; /health, /metrics, /docs and a playground at /."""
    from rnnkit.bundle import load, read_info

    if not 1 <= port <= 65535:
        _fail(ValueError(f"--port: expected a port number in 1..65535, got {port}"))
    if max_batch < 1:
        _fail(ValueError(f"--max-batch: expected an integer >= 1 (1: no batching), got {max_batch}"))
    if quantize not in (None, "int8"):
        _fail(ValueError(f"--quantize: expected int8 (or nothing for float32), got {quantize!r}"))
    try:
        import rnnkit.serve as server
    except ImportError as error:
        _fail(ImportError(f"{error}; install the serve extra: pip install 'rnnkit[serve]'"))
    try:  # a bad path, another kind of model or a damaged bundle fails here, before the server starts
        server.route_modules(read_info(bundle))  # a kind without HTTP routes is refused
        loaded = load(bundle)
        if quantize:
            from rnnkit.quantize import quantize_dynamic

            loaded = loaded._replace(model=quantize_dynamic(loaded.model))
    except (ValueError, OSError) as error:
        _fail(error)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    server.serve(loaded, host=host, port=port, settings=server.ServerSettings(max_batch=max_batch))


@app.command()
def forecast(
    bundle: Annotated[Path, typer.Argument(help="A forecaster bundle folder (rnnkit train --out DIR -> DIR/bundle).")],
    input: Annotated[Path, typer.Option("--input", help="CSV with the bundle's columns (and a time column).")],
    horizon: Annotated[int | None, typer.Option("--horizon", help="Steps to forecast (default: the model's).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for forecast.csv and forecast.png.")] = Path("forecast"),
) -> None:
    """Forecast the rows after the end of a series: CSV and a plot with history, forecast and interval."""
    from rnnkit.timeseries.forecast import forecast as run_forecast

    _check_writable(out, "--out")
    try:
        result = run_forecast(bundle, input, horizon, out=out)
    except (ValueError, TypeError, OSError, ImportError) as error:
        _fail(error)
    typer.echo(f"forecast {len(result.point)} steps: first {result.point[0]:.4g}, last {result.point[-1]:.4g}; "
               f"wrote {result.csv} and {result.png}")


@app.command()
def detect(
    bundle: Annotated[Path, typer.Argument(help="A forecaster or autoencoder bundle folder.")],
    input: Annotated[Path, typer.Option("--input", help="CSV with the bundle's columns (and a time column).")],
    threshold: Annotated[float | None, typer.Option(help="Flag scores above this (default: chosen on the "
                                                         "bundle's validation data).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for detect.csv and detect.png.")] = Path("detect"),
) -> None:
    """Score every row of a series for anomalies and flag those above the threshold: CSV and a plot."""
    from rnnkit.timeseries.forecast import detect as run_detect

    _check_writable(out, "--out")
    try:
        result = run_detect(bundle, input, threshold=threshold, out=out)
    except (ValueError, TypeError, OSError, ImportError) as error:
        _fail(error)
    typer.echo(f"flagged {int(result.flags.sum())} of {len(result.flags)} rows (threshold {result.threshold:.4g}); "
               f"wrote {result.csv} and {result.png}")


@app.command()
def predict(
    bundle: Annotated[Path, typer.Argument(help="A classifier or tagger bundle folder, e.g. runs/sst2/bundle.")],
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify or tag ('-': one per line from "
                                                           "stdin).", show_default=False)] = None,
    input_file: InputOption = None,
    json_: Annotated[bool, typer.Option("--json", help="One JSON object per text.")] = False,
) -> None:
    """Classify texts (label and probabilities) or tag them (entity spans) with a trained bundle."""
    import json

    from rnnkit.predict import predict as run_prediction
    from rnnkit.threads import inference_threads

    texts = _read_inputs(texts, input_file, "texts")

    try:
        with inference_threads():  # one thread: no OpenMP spinning on a busy machine (rnnkit.threads)
            predictions = run_prediction(bundle, texts)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as error:
        _fail(error)
    for item in predictions:
        if json_:
            typer.echo(json.dumps(item.to_json(), ensure_ascii=False))
        elif item.label is not None:
            others = ", ".join(f"{label} {p:.3f}" for label, p in item.probabilities.items())
            typer.echo(f"{item.label}\t{item.probability:.3f}\t({others})\t{item.text}")
        else:
            spans = "; ".join(f"{e.text} [{e.label}] {e.probability:.2f}" for e in item.entities) or "(no entities)"
            typer.echo(f"{spans}\t{item.text}")
        if not json_:  # JSON carries them in its "unknown" field
            _warn_unknown(item.unknown)


@app.command()
def translate(
    bundle: Annotated[Path, typer.Argument(help="A translation bundle folder, e.g. runs/eng_fra/bundle.")],
    sentences: Annotated[list[str] | None, typer.Argument(help="Sentences to translate ('-': one per line from "
                                                               "stdin).", show_default=False)] = None,
    input_file: InputOption = None,
    beam: Annotated[int | None, typer.Option("--beam", help="Beam search of this width (default and 1: greedy).")] = None,
    attention_png: Annotated[Path | None, typer.Option("--attention-png", help="Write the first sentence's "
                                                       "attention map to this PNG.")] = None,
) -> None:
    """Translate sentences with a seq2seq bundle (greedy or beam search), optionally plotting the attention."""
    from rnnkit.decoding import DecodingOptions
    from rnnkit.translation import translate as run_translation
    from rnnkit.translation.plot import plot_attention

    sentences = _read_inputs(sentences, input_file, "sentences")
    if attention_png is not None:
        _check_writable(attention_png, "--attention-png", file=True)
    try:
        options = DecodingOptions.choose(beam=beam, default="greedy")
        result = run_translation(bundle, sentences, method=options.method, beam_size=options.beam)
        if attention_png is not None:
            plot_attention(result.attention[0], result.source_tokens[0], result.output_tokens[0], attention_png,
                           title=f"{sentences[0]} -> {result.texts[0]}")
    except (ValueError, TypeError, OSError, ImportError) as error:
        _fail(error)
    for text, unknown in zip(result.texts, result.unknown, strict=True):
        typer.echo(text)
        _warn_unknown(unknown)
    if attention_png is not None:
        typer.echo(f"wrote {attention_png}", err=True)


def _warn_unknown(unknown: list[str] | tuple[str, ...]) -> None:
    """One stderr line for the tokens of the answer above that the model does not know (it read them as <unk>)."""
    if unknown:
        typer.echo(f"warning: {len(unknown)} token(s) unknown to the model, read as <unk>: {' '.join(unknown)}",
                   err=True)


def _bundle_kind(path: Path) -> str | None:
    """The kind of the bundle at ``path`` (None: not a readable bundle, e.g. a run folder)."""
    from rnnkit.bundle import read_info

    try:
        return read_info(path).get("kind", "language_model")
    except (ValueError, OSError, TypeError):
        return None


_COUNTS = ("examples", "sentences", "origins", "windows")  # what evaluate() counts, printed as integers


def _eval_task(path: Path, json_: bool) -> None:
    import json

    from rnnkit.bundle import read_info
    from rnnkit.tasks import evaluate_bundle

    try:
        metrics = evaluate_bundle(path, "test")
    except (ValueError, TypeError, FileNotFoundError, ImportError) as error:
        _fail(error)
    task = read_info(path).get("task")
    if json_:
        typer.echo(json.dumps({"task": task, "source": str(path), "split": "test", "metrics": metrics}))
        return
    counts = ", ".join(f"{int(metrics[name])} {name}" for name in _COUNTS if name in metrics)
    figures = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items() if name not in _COUNTS)
    typer.echo(f"{task} {path} (test split{', ' + counts if counts else ''}): {figures}")


def _eval_translation(path: Path, json_: bool) -> None:
    import json

    from rnnkit.translation import evaluate_translation

    try:
        result = evaluate_translation(path)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as error:
        _fail(error)
    if json_:
        typer.echo(json.dumps({"task": result.task, "source": str(result.source), "sentences": result.sentences,
                               "scores": [score._asdict() for score in result.scores],
                               "bleu_signature": result.bleu_signature, "chrf_signature": result.chrf_signature}))
        return
    typer.echo(f"{result.task} {result.source}: {result.sentences} test sentences")
    for score in result.scores:
        typer.echo(f"  {score.method:8} BLEU {score.bleu:6.2f}  chrF {score.chrf:6.2f}  exact {score.exact_match:.3f}  "
                   f"({score.seconds:.1f} s)")
    typer.echo(f"  {result.bleu_signature}\n  {result.chrf_signature}")


if __name__ == "__main__":
    app()
