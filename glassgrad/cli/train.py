"""``glassgrad train``, ``evaluate`` and ``predict``: train a network on a data set, check it, use it."""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from glassgrad.cli.options import (
    COUNT,
    FRACTION,
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    POSITIVE,
    UsageError,
    cannot_write,
    checked,
    device_flag,
)
from glassgrad.files import write_atomically

DEVICE_HELP = "where the model runs: cpu, cuda (the current GPU) or cuda:N; cuda needs pip install 'glassgrad[cuda]'"

if TYPE_CHECKING:      # for annotations only (the train package loads on first use)
    from glassgrad.train.fit import TrainingState

# Defaults per data set, chosen so the first command of the README trains well in seconds.
DATA_DEFAULTS = {
    "digits": dict(hidden=[64], epochs=30, lr=0.1, batch_size=32, optimizer="momentum"),
    "mnist": dict(hidden=[128], epochs=10, lr=0.1, batch_size=64, optimizer="momentum"),
    "lfd": dict(hidden=[10], activation="tanh", epochs=100, lr=0.1, batch_size=32, optimizer="momentum"),
    "xor": dict(hidden=[16], activation="tanh", epochs=200, lr=0.1, batch_size=32, optimizer="momentum"),
    "moons": dict(hidden=[32], epochs=100, lr=0.1, batch_size=32, optimizer="momentum"),
    "spirals": dict(hidden=[64, 64], epochs=300, lr=0.05, batch_size=32, optimizer="adam"),
    "sine": dict(hidden=[32], activation="tanh", loss="mse", epochs=300, lr=0.01, batch_size=32,
                 optimizer="adam"),
}
FALLBACK = dict(hidden=[64], activation="relu", loss="cross_entropy", epochs=20, lr=0.1, batch_size=32,
                optimizer="momentum")


def _defaults_by_data_set() -> str:
    def flag(key: str, value) -> str:
        return f"{key.replace('_', '-')} {' '.join(map(str, value)) if isinstance(value, list) else value}"

    return "; ".join(f"{name}: " + ", ".join(flag(k, v) for k, v in {**FALLBACK, **d}.items())
                     for name, d in DATA_DEFAULTS.items())


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    from glassgrad.data import DATASET_NAMES
    from glassgrad.nn.init import WEIGHT_INITS
    from glassgrad.train.models import ACTIVATIONS, LOSSES, OPTIMIZERS

    per_data = "(default: per data set, below)"
    p = sub.add_parser("train", help="train a network and save it (default: the 8x8 digits)",
                       description="Train a fully connected network. Prints progress, then the test accuracy and "
                                   "confusion matrix; writes model.npz, metrics.jsonl, summary.json and "
                                   "learning_curve.png to --out. Ctrl-C stops it: summary.json then says "
                                   "'interrupted' and model.npz holds the last finished epoch (exit status 130).",
                       epilog="Defaults per data set: " + _defaults_by_data_set() + ".")
    p.add_argument("--data", default="digits", choices=DATASET_NAMES, help="data set")
    p.add_argument("--data-path", help="file or folder of the data (mnist, lfd); default: searched for in "
                                       "$GLASSGRAD_DATA, ../shared/data and ~/.cache/glassgrad")
    p.add_argument("--download", action="store_true",
                   help="mnist: download the IDX files (checked by SHA-256) into ~/.cache/glassgrad if not found")
    p.add_argument("--hidden", type=COUNT, nargs="*", metavar="N",
                   help=f"hidden layer sizes, e.g. --hidden 128 64 {per_data}")
    p.add_argument("--activation", choices=sorted(ACTIVATIONS), help=f"hidden activation {per_data}")
    p.add_argument("--loss", choices=LOSSES, help=f"cost; quadratic adds a sigmoid output {per_data}")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help=f"update rule; 'momentum' is SGD with --momentum {per_data}")
    p.add_argument("--lr", type=POSITIVE, help=f"learning rate η > 0 {per_data}")
    p.add_argument("--momentum", type=FRACTION, default=0.9, help="momentum for momentum/nesterov, in [0, 1)")
    p.add_argument("--batch-size", type=COUNT, help=f"mini-batch size; under mpirun the global batch, shared by "
                                                    f"the processes {per_data}")
    p.add_argument("--epochs", type=COUNT, help=f"number of epochs (with --resume: in all) {per_data}")
    p.add_argument("--l2", type=NON_NEGATIVE, default=0.0, metavar="LAMBDA",
                   help="L2 penalty λ/2n Σw² on the weights (biases excluded), n = training set size")
    p.add_argument("--init", default="default", choices=sorted(WEIGHT_INITS), help="weight initialiser")
    p.add_argument("--seed", type=NON_NEGATIVE_INT, default=0, help="seed for initial weights and shuffling")
    p.add_argument("--out", default=None, help="output folder (default: runs/<data>; with --resume: the checkpoint's)")
    p.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue the run that wrote this model.npz (its data, model and settings) up to --epochs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-input-check", action="store_true",
                   help="skip the check of the data for NaN/inf before training (one pass over it)")
    p.add_argument("--compile", action="store_true",
                   help="record each batch shape's whole training step (forward, backward, update) once "
                        "and replay it (gg.compile)")
    p.add_argument("--report", action="store_true",
                   help="record gradient health while training and write report.html (one self-contained page)")
    p.add_argument("--device", type=device_flag, default="cpu", help=DEVICE_HELP)
    p.set_defaults(run=run_train)

    e = sub.add_parser("evaluate", help="test accuracy and confusion matrix of a saved model")
    e.add_argument("checkpoint", help="model.npz written by 'glassgrad train'")
    e.add_argument("--data", choices=DATASET_NAMES, help="data set (default: the one it was trained on)")
    e.add_argument("--data-path", help="file or folder of the data")
    e.add_argument("--split", default="test", choices=["train", "val", "test"], help="which split")
    e.add_argument("--device", type=device_flag, default="cpu", help=DEVICE_HELP)
    e.set_defaults(run=run_evaluate)

    r = sub.add_parser("predict", help="predict with a saved model")
    r.add_argument("checkpoint", help="model.npz written by 'glassgrad train'")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", help=".npy or text (.csv/.txt) file of inputs, one example per row, preprocessed "
                                     "as in training; rows with NaN or inf are refused")
    src.add_argument("--data", choices=DATASET_NAMES, help="predict the first --limit examples of a data set split")
    r.add_argument("--data-path", help="file or folder of the data")
    r.add_argument("--split", default="test", choices=["train", "val", "test"], help="which split, with --data")
    r.add_argument("--limit", type=NON_NEGATIVE_INT, default=10, help="how many examples with --data")
    r.add_argument("--output", help="write predictions to this file (one per line) instead of printing")
    r.add_argument("--device", type=device_flag, default="cpu", help=DEVICE_HELP)
    r.set_defaults(run=run_predict)


def _settings(args) -> dict:
    chosen = {**FALLBACK, **DATA_DEFAULTS.get(args.data, {})}
    for key in ("hidden", "activation", "loss", "optimizer", "lr", "batch_size", "epochs"):
        if getattr(args, key) is not None:
            chosen[key] = getattr(args, key)
    return chosen


def _load(name: str, path: str | None, download: bool = False):
    from glassgrad.data import load_dataset

    kwargs: dict[str, object] = {"path": path} if path else {}
    if download:
        kwargs["download"] = True
    try:
        return load_dataset(name, **kwargs)
    except FileNotFoundError as e:
        raise UsageError(f"cannot load data set {name!r}: {e}; from the command line: --data-path PATH, or "
                         "GLASSGRAD_DATA=FOLDER" + (", or --download" if name == "mnist" else "")) from None
    except Exception as e:   # whatever a broken or foreign data file raises, it is the data's problem
        where = f" from {path}" if path else ""
        raise UsageError(f"cannot load data set {name!r}{where}: {type(e).__name__}: {e}") from None


def _writable_folder(folder: Path, flag: str) -> Path:
    """``folder``, created if needed and checked writable now, before any work that would be lost."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise UsageError(f"{flag} {folder}: cannot write there ({e.strerror or e}); give a folder you can "
                         "write to") from None
    return folder


def _position():
    """A callback that knows where training is, for the one line Ctrl-C prints."""
    from glassgrad.train import Callback

    class Position(Callback):
        epoch = step = steps = completed = 0

        def on_batch_end(self, state: TrainingState, logs: dict) -> None:
            self.epoch, self.step, self.steps = state.epoch, state.step, len(state.loader)

        def on_train_error(self, state: TrainingState, error: BaseException) -> None:
            self.epoch, self.completed = state.epoch, len(state.history)

    return Position()


def _resume_settings(args) -> tuple[dict, dict]:
    """The run a checkpoint continues: its metadata (checked like the flags) and the settings, with --epochs."""
    from glassgrad.data import DATASET_NAMES
    from glassgrad.train import load_checkpoint
    from glassgrad.train.models import LOSSES, OPTIMIZERS

    ckpt = load_checkpoint(args.resume)
    changed = [f"--{k.replace('_', '-')}" for k in ("hidden", "activation", "loss", "optimizer", "lr", "batch_size")
               if getattr(args, k) is not None]
    if changed:
        raise UsageError(f"--resume continues the run saved in {args.resume} with its own settings; drop "
                         f"{', '.join(changed)} (or start a new run without --resume)")
    meta = ckpt.metadata
    where = f"{args.resume}: metadata"
    settings = meta.get("settings")
    if not isinstance(settings, dict) or meta.get("data") not in DATASET_NAMES:
        raise UsageError(f"{where} has no run settings (it was not written by 'glassgrad train'); resume it from "
                         "Python with fit(..., resume=path)")
    s = dict(settings)
    for key, convert in (("lr", POSITIVE), ("batch_size", COUNT), ("epochs", COUNT)):
        s[key] = checked(f"{where} settings.{key}", convert, s.get(key))
    for key, allowed in (("loss", LOSSES), ("optimizer", OPTIMIZERS)):
        if s.get(key) not in allowed:
            raise UsageError(f"{where} settings.{key} is {s.get(key)!r}; known: {', '.join(allowed)}")
    meta = {**meta, "l2": checked(f"{where} l2", NON_NEGATIVE, meta.get("l2", 0.0)),
            "seed": checked(f"{where} seed", NON_NEGATIVE_INT, meta.get("seed", 0)),
            "momentum": checked(f"{where} momentum", FRACTION, meta.get("momentum", 0.9))}
    if args.epochs is not None:
        s["epochs"] = args.epochs
    return meta, s


def run_train(args: argparse.Namespace) -> int:
    import glassgrad as gg
    from glassgrad.nn import functional as F
    from glassgrad.train import ModelCheckpoint, build_model, fit, loss_by_name, optimizer_by_name

    if args.download and args.data != "mnist":
        raise UsageError("--download is for --data mnist")
    if args.resume:
        meta, s = _resume_settings(args)
        data_name, spec, seed, l2, momentum = meta["data"], meta["model"], meta["seed"], meta["l2"], meta["momentum"]
        out = _writable_folder(Path(args.out) if args.out else Path(args.resume).parent, "--out")
    else:
        s, data_name, seed, l2, momentum = _settings(args), args.data, args.seed, args.l2, args.momentum
        out = _writable_folder(Path(args.out or Path("runs") / args.data), "--out")
    gg.manual_seed(seed)
    data = _load(data_name, args.data_path, args.download)
    n_in = int(data.train[0].reshape(len(data.train[0]), -1).shape[1])
    n_out = data.num_classes or 1
    if not args.resume:
        spec = {"kind": "mlp", "sizes": [n_in, *s["hidden"], n_out], "activation": s["activation"],
                "output_activation": "sigmoid" if s["loss"] == "quadratic" else None, "weight_init": args.init}
    try:
        model = build_model(spec)
    except ValueError as e:
        raise UsageError(f"{args.resume}: metadata: {e}") from None
    _check_fits(spec, data, data_name, args.resume or "the model")
    loss = loss_by_name(s["loss"], data.num_classes)
    optimizer, world = _data_parallel(optimizer_by_name(s["optimizer"], model.parameters(), s["lr"], momentum),
                                      s["batch_size"])
    n_train = len(data.train[0])
    penalty = (lambda m: F.l2_penalty(m.parameters(), l2, n_train)) if l2 else None
    classify = data.num_classes is not None
    metadata = {"model": spec, "data": data_name, "num_classes": data.num_classes, "settings": s,
                "l2": l2, "seed": seed, "momentum": momentum}
    if world.is_writer:
        print(f"glassgrad train: {data_name} ({n_train} training examples, {len(data.test[0])} test), model "
              f"{spec['sizes']} {spec.get('activation', 'relu')}, {model.num_parameters():,} parameters, "
              f"{s['loss']} cost, {s['optimizer']} η={s['lr']}, batch {s['batch_size']}, {s['epochs']} epochs"
              + (f", L2 λ={l2}" if l2 else "") + (f", resuming {args.resume}" if args.resume else "")
              + (f", {world.size} processes" if world.size > 1 else ""), flush=True)
    health = None
    if args.report:   # about 200 gradient-health snapshots over the run, for report.html
        from glassgrad.explain.health import GradientHealth
        health = GradientHealth(every=max(1, -(-n_train // s["batch_size"]) * s["epochs"] // 200))
    checkpoint, position = out / "model.npz", _position()
    started = time.perf_counter()
    try:
        history = fit(model, loss, optimizer, data.train, s["epochs"], validation=data.val,
                      metrics=("accuracy",) if classify else (), batch_size=s["batch_size"], seed=seed,
                      penalty=penalty, progress=not args.no_progress, compile=args.compile,
                      log=str(out / "metrics.jsonl"), resume=args.resume, check_inputs=not args.no_input_check,
                      callbacks=[ModelCheckpoint(checkpoint), position] + ([health] if health else []),
                      metadata=metadata, device=args.device)
    except KeyboardInterrupt:
        if not world.is_writer:
            return 130
        return _interrupted(out, checkpoint, position, metadata, time.perf_counter() - started)
    except ValueError as e:          # the data refused by fit's checks (NaN/inf rows)
        raise UsageError(f"{data_name}: {e}") from None
    if not world.is_writer:          # rank 0 evaluates, reports and writes; the replicas are identical
        return 1 if history.fault else 0
    return _report(out, model, loss, data, history, metadata, time.perf_counter() - started, health, spec, classify,
                   args.device)


def _data_parallel(optimizer, batch_size: int):
    """Started by mpirun (several processes): the optimiser averages its gradients over them (fit then shards
    the data, and only rank 0 writes). One process: the optimiser as it is. Also returns the world."""
    from glassgrad.distributed import DistributedOptimizer, init

    world = init()
    if world.size == 1:
        return optimizer, world
    if batch_size % world.size:
        raise UsageError(f"--batch-size {batch_size} is the global batch, shared by the {world.size} processes: "
                         f"give a multiple of {world.size}")
    return DistributedOptimizer(optimizer, world=world), world


def _check_fits(spec: dict, data, data_name: str, what: str) -> None:
    """A model's input and output sizes against a data set's, before it is used on it."""
    width = math.prod(int(n) for n in data.test[0].shape[1:])
    n_out = data.num_classes or 1
    if spec["sizes"][0] != width or spec["sizes"][-1] != n_out:
        raise UsageError(f"{what} takes {spec['sizes'][0]} inputs and gives {spec['sizes'][-1]} outputs per example, "
                         f"but {data_name} has {width} inputs and {n_out} classes; use it with the data set it was "
                         "trained on")


def _interrupted(out: Path, checkpoint: Path, position, metadata: dict, seconds: float) -> int:
    """Ctrl-C during training: one line (where it stopped, what the checkpoint holds), summary.json, 130."""
    from glassgrad.train import CheckpointError, load_checkpoint

    done = 0
    if position.completed:   # what the file holds, not what was planned: Ctrl-C may have cut a write short
        try:
            done = load_checkpoint(checkpoint).metadata.get("epoch", 0)
        except CheckpointError:
            pass
    holds = (f"{checkpoint} holds epoch {done} (resume with: glassgrad train --resume {checkpoint})" if done
             else "no epoch finished, so no checkpoint was written")
    at = f"epoch {position.epoch}, step {position.step} of {position.steps}" if position.epoch else "the start"
    summary = {"status": "interrupted", "stopped_at": {"epoch": position.epoch, "step": position.step},
               "epochs_completed": position.completed, "checkpoint": str(checkpoint) if done else None,
               "checkpoint_epoch": done, "seconds": seconds,
               **metadata}
    write_atomically(out / "summary.json", json.dumps(summary, indent=2))
    print(f"\nglassgrad train: interrupted at {at}; {holds}", file=sys.stderr, flush=True)
    return 130


def _report(out: Path, model, loss, data, history, metadata: dict, seconds: float, health, spec: dict,
            classify: bool, device) -> int:
    """After training: test metrics, confusion matrix, summary.json, learning curve, report."""
    from glassgrad.explain.plots import learning_curve
    from glassgrad.train import confusion_matrix, evaluate, format_confusion, predict, predicted_labels

    test = evaluate(model, data.test, loss, ("accuracy",) if classify else (), device=device)
    print(f"\ntrained in {seconds:.1f} s" + (f" ({history.stop_reason})" if history.stop_reason else ""))
    matrix = None
    if classify:
        print(f"test accuracy {test['accuracy']:.4f}  (test loss {test['loss']:.4f})\n")
        matrix = confusion_matrix(predicted_labels(predict(model, data.test[0], device=device)), data.test[1],
                                  data.num_classes)
        print("confusion matrix (rows: true class, columns: predicted)")
        print(format_confusion(matrix))
    else:
        print(f"test loss {test['loss']:.6f}")
    status = "diverged" if history.fault else "stopped" if history.stop_reason else "completed"
    write_atomically(out / "summary.json", json.dumps({"status": status, "stop_reason": history.stop_reason,
                                                      "epochs_completed": len(history), "test": test,
                                                      "seconds": seconds, **metadata}, indent=2))
    if not len(history):   # stopped in the first epoch (a NaN loss): no checkpoint, nothing to plot
        print(f"\nwrote {out / 'metrics.jsonl'}, {out / 'summary.json'} (no epoch completed: no model.npz, "
              "no learning curve)")
        return 1
    plot = learning_curve(history, out / "learning_curve.png", title=f"{metadata['data']}: {spec['sizes']}")
    print(f"\nwrote {out / 'model.npz'}, {out / 'metrics.jsonl'}, {out / 'summary.json'}"
          + (f", {plot}" if plot else "\n(no learning-curve PNG: matplotlib is not installed; "
                                      "pip install 'glassgrad[plot]')"))
    if health is not None:
        from glassgrad.explain.report import write_report

        report = write_report(out / "report.html", history, model, test, matrix, health,
                              title=f"glassgrad train: {metadata['data']} {spec['sizes']}", settings=metadata)
        print(f"wrote {report}")
    return 1 if history.fault else 0


def _restore(path: str):
    """The checkpoint and its model, checked; the metadata fields the commands read, checked too."""
    from glassgrad.data import DATASET_NAMES
    from glassgrad.train import load_checkpoint
    from glassgrad.train.models import LOSSES

    ckpt = load_checkpoint(path)
    model = ckpt.build_model()
    meta = ckpt.metadata
    settings = meta.get("settings", {})
    num_classes = meta.get("num_classes")
    if (not isinstance(settings, dict) or settings.get("loss", "cross_entropy") not in LOSSES
            or meta.get("data") not in (None, *DATASET_NAMES)
            or not (num_classes is None or (isinstance(num_classes, int) and not isinstance(num_classes, bool)
                                            and num_classes >= 1))):
        raise UsageError(f"{path}: its metadata's data, num_classes or settings.loss are not what 'glassgrad "
                         "train' writes; load the weights from Python with load_checkpoint(path).restore(model)")
    return ckpt, model


def run_evaluate(args: argparse.Namespace) -> int:
    from glassgrad.train import confusion_matrix, evaluate, format_confusion, loss_by_name, predict, predicted_labels

    ckpt, model = _restore(args.checkpoint)
    model.to(args.device)
    name = args.data or ckpt.metadata.get("data")
    if name is None:
        raise UsageError(f"{args.checkpoint} does not say which data set it was trained on; give --data")
    data = _load(name, args.data_path)
    split = getattr(data, args.split)
    if split is None:
        raise UsageError(f"{name} has no {args.split} split; choose another --split")
    _check_fits(ckpt.metadata["model"], data, name, args.checkpoint)
    classify = data.num_classes is not None
    loss = loss_by_name(ckpt.metadata.get("settings", {}).get("loss", "cross_entropy"), data.num_classes)
    result = evaluate(model, split, loss, ("accuracy",) if classify else (), device=args.device)
    print(f"{args.checkpoint} on {name} ({args.split}, {len(split[0])} examples): "
          + "  ".join(f"{k} {v:.4f}" for k, v in result.items()))
    if classify:
        matrix = confusion_matrix(predicted_labels(predict(model, split[0], device=args.device)), split[1],
                                  data.num_classes)
        print("\nconfusion matrix (rows: true class, columns: predicted)")
        print(format_confusion(matrix))
    return 0


def _read_inputs(path: str):
    """Inputs from a .npy (read with the checkpoint reader's checks: no pickles, sizes bounded by the file)
    or a text file; one example per row, numbers only."""
    import numpy as np

    from glassgrad.train.checkpoint import load_array

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"--input {p}: " + ("not a file (a folder or a device)" if p.exists() else "no such file"))
    try:
        with warnings.catch_warnings():      # an empty text file warns, then is refused below in one line
            warnings.simplefilter("ignore", UserWarning)
            x = load_array(p) if p.suffix == ".npy" else np.loadtxt(
                p, delimiter="," if p.suffix == ".csv" else None, ndmin=2)
    except (ValueError, OSError) as e:
        raise UsageError(f"--input {p}: cannot read it ({e})") from None
    if x.dtype.kind not in "biuf":
        raise UsageError(f"--input {p}: holds {x.dtype}, not numbers")
    if x.ndim == 0 or len(x) == 0 or x.size == 0:
        raise UsageError(f"--input {p}: holds no examples (one example per row)")
    return np.asarray(x, dtype=np.float32)


def run_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from glassgrad.train import predict, predicted_labels

    ckpt, model = _restore(args.checkpoint)
    model.to(args.device)
    n_in = ckpt.metadata["model"]["sizes"][0]
    if args.input:
        x, y = _read_inputs(args.input), None
        source = f"--input {args.input}"
    else:
        split = getattr(_load(args.data, args.data_path), args.split)
        if split is None:
            raise UsageError(f"{args.data} has no {args.split} split; choose another --split")
        x, y = split[0][:args.limit], split[1][:args.limit]
        source = f"{args.data} ({args.split})"
    x = x.reshape(len(x), -1)
    if x.shape[1] != n_in:
        raise UsageError(f"the model takes {n_in} inputs per example but {source} has {x.shape[1]}")
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if len(bad):
        rows = ", ".join(map(str, bad[:10])) + (", …" if len(bad) > 10 else "")
        raise UsageError(f"{source}: {len(bad)} row(s) hold NaN or inf (rows {rows}, counting from 0); a prediction "
                         "for them would mean nothing — fix or remove them")
    out = predict(model, x, device=args.device)
    values = predicted_labels(out) if ckpt.metadata.get("num_classes") else out.reshape(len(out), -1)[:, 0]
    lines = [f"{v}" + ("" if y is None else f"\t(true {y[i]})") for i, v in enumerate(values.tolist())]
    if args.output:
        try:
            write_atomically(args.output, "".join(f"{v}\n" for v in values.tolist()))
        except OSError as e:
            raise cannot_write("--output", args.output, e) from None
        print(f"wrote {len(values)} predictions to {args.output}")
    else:
        print("\n".join(lines))
    return 0
