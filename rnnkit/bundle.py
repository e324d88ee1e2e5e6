"""Model bundles: the project's one format for a trained model, a folder that loads without running code.

    my-model/
        bundle.json        {"format": "rnnkit.lm_bundle", "version": 1, "task": ..., "model_config": {...},
                            "metrics": {...}, "created": ..., "rnnkit_version": "0.1.0",
                            "weights_sha256": "<hex>", "data_fingerprint": "<str or null>"}
        tokenizer.json     rnnkit.text.Tokenizer.save (optional for kinds without text input)
        tokenizer.<name>.json  further tokenizers by name, e.g. a translation model's "target"
        model.safetensors  the weights (safetensors holds raw tensors only: no pickle, so loading runs no code)

A bundle holds one *kind* of model (``language_model``, the default, a classifier, a tagger, a translation
model, a forecaster, ...): a model class built from one frozen config dataclass, ``model_class(config)``,
that keeps it as ``model.config``, made a kind with :func:`register_kind`. bundle.json stores that config as
``model_config``, so loading rebuilds the model from JSON and fills it with the weights. rnnkit.catalog names
each kind's module, imported on first use (when a bundle of the kind is saved or loaded).

Loading reads JSON and safetensors only, and checks, with a message that says what is wrong:

* the folder and its three files exist;
* the format is ``rnnkit.lm_bundle`` and its version is one this rnnkit reads (``FORMAT_VERSION`` or older);
* the SHA-256 of model.safetensors equals ``weights_sha256`` (a corrupted or swapped weights file);
* every tensor the model needs is in the file with the right shape, and nothing else is;
* for a kind whose catalog entry says ``tokenizer_sized`` (language models), the tokenizer's size equals the
  model's ``vocab_size``.

Compatibility rule. Bundles written before checksums existed (by the first LM bundle writer) have
the same layout and format version 1 but no ``weights_sha256`` or ``rnnkit_version``: they load, with a
logged warning that the weights could not be verified. The new fields are additions to version 1 (an older
reader ignores them), so the format version stays 1; a change that an older reader would misread must raise
``FORMAT_VERSION``, and then this reader refuses bundles newer than it knows.

Example:
    >>> import rnnkit
    >>> from rnnkit.bundle import save
    >>> save("my-model", model, tokenizer, task="char_lm", metrics={"val_loss": 1.42})  # doctest: +SKIP
    >>> bundle = rnnkit.load("my-model")                                                 # doctest: +SKIP
    >>> logits, state = bundle.model(torch.tensor([bundle.tokenizer.encode("to be")]))   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_model

from rnnkit import catalog
from rnnkit.text.tokenizer import Tokenizer

__all__ = ["Bundle", "BundleError", "FORMAT", "FORMAT_VERSION", "fingerprint", "load", "read_info",
           "register_kind", "require_kind", "save", "sha256_file"]

logger = logging.getLogger(__name__)

FORMAT = "rnnkit.lm_bundle"
FORMAT_VERSION = 1
BUNDLE_FILE, TOKENIZER_FILE, WEIGHTS_FILE = "bundle.json", "tokenizer.json", "model.safetensors"


class _Kind(NamedTuple):
    model_class: type
    config_class: type


_KINDS: dict[str, _Kind] = {}


def _import_kind(kind: str) -> None:
    """Import the module rnnkit.catalog names for ``kind`` (it registers the kind), unless it is imported or
    being imported; keeps every model family out of ``import rnnkit.bundle``."""
    entry = catalog.kind_entry(kind)
    if entry is not None and kind not in _KINDS and entry.module not in sys.modules:
        importlib.import_module(entry.module)


def _tokenizer_sized(kind: str) -> bool:
    entry = catalog.kind_entry(kind)
    return entry is not None and entry.tokenizer_sized


def register_kind(kind: str, model_class: type, config_class: type) -> None:
    """Let bundles hold ``model_class`` models as ``kind``: ``model_class(config)`` must build one from a
    ``config_class`` (a dataclass) and keep it as ``model.config``. Registering a kind twice with another
    class is an error."""
    if not isinstance(kind, str) or not kind.isidentifier():
        raise ValueError(f"register_kind: expected kind to be an identifier such as 'classifier', got {kind!r}")
    if not dataclasses.is_dataclass(config_class):
        raise TypeError(f"register_kind: expected config_class to be a dataclass, got {config_class!r}")
    _import_kind(kind)  # the catalog's own class for the kind, registered first: another one is an error
    previous = _KINDS.get(kind)
    if previous is not None and previous != (model_class, config_class):
        raise ValueError(f"register_kind: kind {kind!r} is already registered for {previous.model_class.__name__}")
    _KINDS[kind] = _Kind(model_class, config_class)


def _kind_of(model: torch.nn.Module) -> str:
    for kind, entry in _KINDS.items():  # a model's module is imported, so its kind is registered
        if type(model) is entry.model_class:
            return kind
    _import_kind(catalog.DEFAULT_KIND)  # so the message lists the default kind's class
    raise TypeError(f"save: model must be a model class registered with register_kind "
                    f"({', '.join(entry.model_class.__name__ for entry in _KINDS.values())}), "
                    f"got {type(model).__name__}")


def _kind_entry(kind: str, source: Path) -> _Kind:
    _import_kind(kind)
    if kind not in _KINDS:
        raise BundleError(f"{source}: expected kind in {sorted(set(_KINDS) | set(catalog.kind_names()))}, "
                          f"got {kind!r}")
    return _KINDS[kind]


class BundleError(ValueError):
    """A bundle that cannot be loaded: the message names the file and what is wrong with it."""


class Bundle(NamedTuple):
    model: torch.nn.Module  # in eval mode; the kind's model class (a LanguageModel for "language_model")
    tokenizer: Tokenizer | None  # tokenizer.json; None for a kind saved without one
    info: dict[str, Any]  # bundle.json
    path: Path  # the bundle folder
    tokenizers: dict[str, Tokenizer] = {}  # the further named tokenizers (tokenizer.<name>.json)


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(items: Iterable[str | Path | bytes]) -> str:
    """A short identity of training data: SHA-256 over files (by content) or byte strings, in order.

    Store it with ``save(..., data_fingerprint=fingerprint([train_file]))`` so a bundle says what it was
    trained on; two bundles with the same fingerprint saw the same bytes.
    """
    digest = hashlib.sha256()
    for item in items:
        if isinstance(item, bytes):
            digest.update(hashlib.sha256(item).digest())
        elif isinstance(item, (str, Path)):
            digest.update(bytes.fromhex(sha256_file(item)))
        else:
            raise TypeError(f"fingerprint: items must be file paths or bytes, got {type(item).__name__}")
    return "sha256:" + digest.hexdigest()


def save(
    path: str | Path, model: torch.nn.Module, tokenizer: Tokenizer | None = None, *, task: str,
    metrics: dict[str, float] | None = None, data_fingerprint: str | None = None, extra: dict[str, Any] | None = None,
    tokenizers: Mapping[str, Tokenizer] | None = None,
) -> Path:
    """Write ``model``, its tokenizer(s) and metadata into the folder ``path`` (created; its files are replaced).

    Args:
        model: a model of a kind registered with :func:`register_kind` (e.g. a LanguageModel).
        tokenizer: the input tokenizer (required for a language model; None for a model that reads numbers).
        task: what the model was trained for, e.g. ``"poems"`` or ``"char_lm"``.
        metrics: final training/validation figures, e.g. ``{"val_loss": 1.42}``.
        data_fingerprint: identity of the training data (see :func:`fingerprint`); None: unknown.
        extra: further JSON-serialisable fields for bundle.json (they may not replace the standard ones),
            e.g. label names or scaling statistics.
        tokenizers: further tokenizers by name (identifiers), e.g. ``{"target": target_tokenizer}``.

    Returns the folder. bundle.json is written last, so a folder with bundle.json is complete.
    """
    kind = _kind_of(model)
    tokenizers = _check_save_arguments(kind, model, tokenizer, tokenizers, task)
    from rnnkit import __version__

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    weights = path / WEIGHTS_FILE
    partial = path / (WEIGHTS_FILE + ".partial")
    save_model(model, str(partial))  # handles the tied (shared) weight: stored once
    os.chmod(partial, _new_file_mode())  # safetensors writes 0600; the bundle's other files get the umask's mode
    os.replace(partial, weights)
    if tokenizer is not None:
        tokenizer.save(path / TOKENIZER_FILE)
    for name, value in tokenizers.items():
        value.save(path / f"tokenizer.{name}.json")
    info = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "kind": kind,
        "task": task,
        "model_config": dataclasses.asdict(model.config),
        "metrics": {k: float(v) for k, v in (metrics or {}).items()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rnnkit_version": __version__,
        "weights_sha256": sha256_file(weights),
        "data_fingerprint": data_fingerprint,
        "has_tokenizer": tokenizer is not None,
        "tokenizers": sorted(tokenizers),
    }
    clash = sorted(set(extra or {}) & set(info))
    if clash:
        raise ValueError(f"extra: expected keys other than the standard fields, got {clash}")
    info.update(extra or {})
    text = json.dumps(info, ensure_ascii=False, indent=2)
    (path / (BUNDLE_FILE + ".partial")).write_text(text, encoding="utf-8")
    os.replace(path / (BUNDLE_FILE + ".partial"), path / BUNDLE_FILE)
    return path


def _check_save_arguments(kind: str, model: torch.nn.Module, tokenizer, tokenizers, task) -> dict[str, Tokenizer]:
    """save's arguments checked; returns the further tokenizers as a dict."""
    if tokenizer is not None and not isinstance(tokenizer, Tokenizer):
        raise TypeError(f"save: tokenizer must be an rnnkit Tokenizer or None, got {type(tokenizer).__name__}")
    if _tokenizer_sized(kind):
        if tokenizer is None:
            raise TypeError("save: a language model needs its tokenizer, got None")
        if model.config.vocab_size != len(tokenizer):
            raise ValueError(f"save: the model's vocab_size {model.config.vocab_size} differs from the tokenizer's "
                             f"size {len(tokenizer)}")
    tokenizers = dict(tokenizers or {})
    for name, value in tokenizers.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"tokenizers: expected identifier names such as 'target', got {name!r}")
        if not isinstance(value, Tokenizer):
            raise TypeError(f"tokenizers[{name!r}]: expected an rnnkit Tokenizer, got {type(value).__name__}")
    if not isinstance(task, str) or not task:
        raise ValueError(f"task: expected a non-empty str, got {task!r}")
    return tokenizers


def _new_file_mode() -> int:
    """The mode ``open()`` gives a new file: 0o666 less the process's umask (0o644 under the usual 022)."""
    mask = os.umask(0)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return 0o666 & ~mask


def read_info(path: str | Path) -> dict[str, Any]:
    """bundle.json of the bundle at ``path`` (the folder or its bundle.json), checked for format and version,
    without loading any weights."""
    folder = _folder(path)
    try:
        info = json.loads((folder / BUNDLE_FILE).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise BundleError(f"{folder / BUNDLE_FILE}: not valid JSON ({error})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        got = info.get("format") if isinstance(info, dict) else type(info).__name__
        raise BundleError(f"{folder / BUNDLE_FILE}: expected format {FORMAT!r}, got {got!r}")
    version = info.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BundleError(f"{folder / BUNDLE_FILE}: expected an int format version >= 1, got {version!r}")
    if version > FORMAT_VERSION:
        from rnnkit import __version__

        raise BundleError(
            f"{folder}: bundle format version {version} (written by rnnkit {info.get('rnnkit_version', '?')}) is "
            f"newer than this rnnkit {__version__} reads (up to {FORMAT_VERSION}); upgrade rnnkit to load it"
        )
    kind = info.get("kind", catalog.DEFAULT_KIND)  # bundles from before "kind" were all language models
    _kind_entry(kind, folder / BUNDLE_FILE)
    if not isinstance(info.get("model_config"), dict):
        raise BundleError(f"{folder / BUNDLE_FILE}: expected a 'model_config' object, got "
                          f"{type(info.get('model_config')).__name__}")
    return info


def load(path: str | Path, *, device: str | torch.device = "cpu") -> Bundle:
    """Rebuild the model (in eval mode) and tokenizer of the bundle at ``path`` (folder or its bundle.json).

    Raises FileNotFoundError for a missing folder or file, and :class:`BundleError` (a ValueError) for an
    unsupported format version, a checksum that does not match, or weights that do not fit the config.
    """
    folder = _folder(path)
    info = read_info(folder)
    kind = info.get("kind", catalog.DEFAULT_KIND)
    names = [f"tokenizer.{name}.json" for name in info.get("tokenizers", [])] + [WEIGHTS_FILE]
    if info.get("has_tokenizer", True):  # bundles from before "has_tokenizer" always had one
        names.append(TOKENIZER_FILE)
    for name in names:
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder}: the bundle is incomplete, {name} is missing")
    expected = info.get("weights_sha256")
    if expected is None:
        logger.warning("%s: no weights_sha256 in %s (a bundle written before checksums); the weights are not "
                       "verified. Save it again with rnnkit.bundle.save to add one.", folder, BUNDLE_FILE)
    else:
        actual = sha256_file(folder / WEIGHTS_FILE)
        if actual != expected:
            raise BundleError(f"{folder / WEIGHTS_FILE}: SHA-256 {actual} differs from weights_sha256 {expected} "
                              "in bundle.json: the file is corrupted or was replaced")
    tokenizer = _tokenizer(folder / TOKENIZER_FILE) if info.get("has_tokenizer", True) else None
    tokenizers = {name: _tokenizer(folder / f"tokenizer.{name}.json") for name in info.get("tokenizers", [])}
    entry = _kind_entry(kind, folder / BUNDLE_FILE)
    config = _model_config(folder, info["model_config"], entry.config_class)
    if _tokenizer_sized(kind) and config.vocab_size != len(tokenizer):
        raise BundleError(f"{folder}: model_config.vocab_size {config.vocab_size} differs from the tokenizer's "
                          f"size {len(tokenizer)}")
    model = entry.model_class(config)
    try:
        tensors = load_file(str(folder / WEIGHTS_FILE))  # raw tensors: no code runs
    except (SafetensorError, OSError) as error:
        raise BundleError(f"{folder / WEIGHTS_FILE}: not a readable safetensors file ({error})") from None
    _load_weights(model, tensors, folder / WEIGHTS_FILE)
    model.to(device).eval()
    return Bundle(model, tokenizer, info, folder, tokenizers)


def _tokenizer(file: Path) -> Tokenizer:
    try:
        return Tokenizer.load(file)
    except (ValueError, KeyError, TypeError) as error:
        raise BundleError(f"{file}: not a valid rnnkit tokenizer ({error})") from None


def require_kind(info: dict[str, Any], kind: str, what: str) -> None:
    """Raise ValueError unless bundle.json ``info`` holds a model of ``kind``; ``what`` names the caller and
    what it does, e.g. ``"rnnkit serve (generates text)"``."""
    got = info.get("kind", catalog.DEFAULT_KIND)
    if got != kind:
        entry = catalog.kind_entry(got)
        hint = f"rnnkit {entry.commands[0]}" if entry is not None and entry.commands else None
        raise ValueError(f"bundle: {what} needs a {kind!r} bundle, got kind {got!r}"
                         + (f"; use {hint} with this bundle" if hint else ""))


def find_bundles(root: str | Path = "runs", task: str | None = None) -> list[Path]:
    """Bundle folders under ``root`` (any depth), newest first; only those of ``task`` if given. Folders whose
    bundle.json is unreadable or of another format are skipped."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for file in root.rglob(BUNDLE_FILE):
        try:
            info = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and info.get("format") == FORMAT and (task is None or info.get("task") == task):
            found.append(file.parent)
    return sorted(found, key=lambda folder: (folder / BUNDLE_FILE).stat().st_mtime, reverse=True)


def _folder(path: str | Path) -> Path:
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path: expected a str or Path to a bundle folder, got {type(path).__name__}")
    folder = Path(path)
    if folder.name == BUNDLE_FILE:
        folder = folder.parent
    if not folder.exists():
        raise FileNotFoundError(f"{folder}: no such bundle folder")
    if not (folder / BUNDLE_FILE).is_file():
        raise FileNotFoundError(f"{folder}: not a model bundle ({BUNDLE_FILE} is missing)")
    return folder


def _model_config(folder: Path, fields: dict[str, Any], config_class: type) -> Any:
    known = {field.name for field in dataclasses.fields(config_class)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise BundleError(f"{folder / BUNDLE_FILE}: model_config has fields this rnnkit does not know: {unknown} "
                          "(written by a newer rnnkit?)")
    try:
        from rnnkit.config import from_dict  # nested dataclasses and tuples come back as JSON lists and dicts

        return from_dict(config_class, fields, source=str(folder / BUNDLE_FILE))
    except (ValueError, TypeError) as error:
        raise BundleError(f"{folder / BUNDLE_FILE}: invalid model_config: {error}") from None


def _load_weights(model: torch.nn.Module, tensors: dict[str, torch.Tensor], file: Path) -> None:
    """Copy ``tensors`` into ``model`` after checking names and shapes; a tied weight may be stored once."""
    state = model.state_dict()
    groups: dict[int, list[str]] = {}  # storage pointer -> names: aliases of one tensor (weight tying)
    for name, target in state.items():
        groups.setdefault(target.data_ptr(), []).append(name)
    missing, wrong, sources = [], [], {}
    for names in groups.values():
        present = [name for name in names if name in tensors]
        if not present:  # save_model keeps one name per shared tensor, so one of them is enough
            missing.append(names[0])
            continue
        for name in present:
            expected, got = tuple(state[name].shape), tuple(tensors[name].shape)
            if expected != got:
                wrong.append(f"{name}: expected {expected}, got {got}")
        sources[names[0]] = present[0]
    unexpected = sorted(set(tensors) - set(state))
    problems = []
    if missing:
        problems.append(f"missing tensors {missing}")
    if unexpected:
        problems.append(f"unexpected tensors {unexpected}")
    if wrong:
        problems.append("shapes that differ from model_config: " + "; ".join(wrong))
    if problems:
        raise BundleError(f"{file}: the weights do not fit the bundle's model_config: " + ", ".join(problems))
    with torch.no_grad():
        for target_name, source_name in sources.items():
            state[target_name].copy_(tensors[source_name])
