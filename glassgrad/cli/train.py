"""``glassgrad train``, ``evaluate`` and ``predict``: train a network on a data set, check it, use it."""
from __future__ import annotations

import json
import time
from pathlib import Path

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


def add_train_parser(sub) -> None:
    from glassgrad.data import DATASET_NAMES
    from glassgrad.nn.init import WEIGHT_INITS
    from glassgrad.train.models import ACTIVATIONS, LOSSES, OPTIMIZERS

    p = sub.add_parser("train", help="train a network and save it (default: the 8x8 digits)",
                       description="Train a fully connected network. Prints progress, then the test accuracy and "
                                   "confusion matrix; writes model.npz, metrics.jsonl and learning_curve.png to --out.")
    p.add_argument("--data", default="digits", choices=DATASET_NAMES, help="data set (default: digits)")
    p.add_argument("--data-path", help="file or folder of the data (mnist, lfd); default: searched for in "
                                       "$GLASSGRAD_DATA, ../shared/data and ~/.cache/glassgrad")
    p.add_argument("--download", action="store_true",
                   help="mnist: download the IDX files (checked by SHA-256) into ~/.cache/glassgrad if not found")
    p.add_argument("--hidden", type=int, nargs="*", metavar="N", help="hidden layer sizes, e.g. --hidden 128 64")
    p.add_argument("--activation", choices=sorted(ACTIVATIONS), help="hidden activation (default: relu)")
    p.add_argument("--loss", choices=LOSSES, help="cost (default: cross_entropy; quadratic adds a sigmoid output)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="update rule ('momentum' is SGD with momentum 0.9)")
    p.add_argument("--lr", type=float, help="learning rate η")
    p.add_argument("--momentum", type=float, default=0.9, help="momentum for momentum/nesterov (default 0.9)")
    p.add_argument("--batch-size", type=int, help="mini-batch size")
    p.add_argument("--epochs", type=int, help="number of epochs")
    p.add_argument("--l2", type=float, default=0.0, metavar="LAMBDA",
                   help="L2 penalty λ/2n Σw² on the weights (biases excluded), n = training set size")
    p.add_argument("--init", default="default", choices=sorted(WEIGHT_INITS), help="weight initialiser")
    p.add_argument("--seed", type=int, default=0, help="seed for initial weights and shuffling (default 0)")
    p.add_argument("--out", default=None, help="output folder (default: runs/<data>)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--compile", action="store_true",
                   help="record each batch shape's forward and backward pass once and replay it (gg.compile)")
    p.add_argument("--report", action="store_true",
                   help="record gradient health while training and write report.html (one self-contained page)")
    p.set_defaults(run=run_train)

    e = sub.add_parser("evaluate", help="test accuracy and confusion matrix of a saved model")
    e.add_argument("checkpoint", help="model.npz written by 'glassgrad train'")
    e.add_argument("--data", choices=DATASET_NAMES, help="data set (default: the one it was trained on)")
    e.add_argument("--data-path", help="file or folder of the data")
    e.add_argument("--split", default="test", choices=["train", "val", "test"], help="which split (default test)")
    e.set_defaults(run=run_evaluate)

    r = sub.add_parser("predict", help="predict with a saved model")
    r.add_argument("checkpoint", help="model.npz written by 'glassgrad train'")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", help=".npy or text (.csv/.txt) file of inputs, one example per row, preprocessed "
                                     "as in training")
    src.add_argument("--data", choices=DATASET_NAMES, help="predict the first --limit examples of a data set split")
    r.add_argument("--data-path", help="file or folder of the data")
    r.add_argument("--split", default="test", choices=["train", "val", "test"])
    r.add_argument("--limit", type=int, default=10, help="how many examples with --data (default 10)")
    r.add_argument("--output", help="write predictions to this file (one per line) instead of printing")
    r.set_defaults(run=run_predict)


def _settings(args) -> dict:
    chosen = {**FALLBACK, **DATA_DEFAULTS.get(args.data, {})}
    for key in ("hidden", "activation", "loss", "optimizer", "lr", "batch_size", "epochs"):
        if getattr(args, key) is not None:
            chosen[key] = getattr(args, key)
    for key, value in (("lr", chosen["lr"]), ("batch_size", chosen["batch_size"]), ("epochs", chosen["epochs"])):
        if value <= 0:
            raise SystemExit(f"glassgrad train: --{key.replace('_', '-')} must be positive, not {value}")
    return chosen


def _load(name: str, path: str | None, download: bool = False):
    from glassgrad.data import load_dataset

    kwargs = {"path": path} if path else {}
    if download:
        kwargs["download"] = True
    try:
        return load_dataset(name, **kwargs)
    except FileNotFoundError as e:
        raise SystemExit(f"glassgrad: cannot load data set {name!r}: {e}\nFrom the command line: --data-path PATH, "
                         "or GLASSGRAD_DATA=FOLDER" + (", or --download" if name == "mnist" else "")) from None
    except (ImportError, ValueError, OSError) as e:
        raise SystemExit(f"glassgrad: cannot load data set {name!r}: {e}") from None


def run_train(args) -> int:
    import glassgrad as gg
    from glassgrad.explain.plots import learning_curve
    from glassgrad.nn import functional as F
    from glassgrad.train import (
        ModelCheckpoint,
        build_model,
        confusion_matrix,
        evaluate,
        fit,
        format_confusion,
        loss_by_name,
        optimizer_by_name,
        predict,
        predicted_labels,
    )

    s = _settings(args)
    gg.manual_seed(args.seed)
    if args.download and args.data != "mnist":
        raise SystemExit("glassgrad train: --download is for --data mnist")
    data = _load(args.data, args.data_path, args.download)
    n_in = int(data.train[0].reshape(len(data.train[0]), -1).shape[1])
    n_out = data.num_classes or 1
    spec = {"kind": "mlp", "sizes": [n_in, *s["hidden"], n_out], "activation": s["activation"],
            "output_activation": "sigmoid" if s["loss"] == "quadratic" else None, "weight_init": args.init}
    model = build_model(spec)
    loss = loss_by_name(s["loss"], data.num_classes)
    optimizer = optimizer_by_name(s["optimizer"], model.parameters(), s["lr"], args.momentum)
    n_train = len(data.train[0])
    penalty = (lambda m: F.l2_penalty(m.parameters(), args.l2, n_train)) if args.l2 else None
    out = Path(args.out or Path("runs") / args.data)
    out.mkdir(parents=True, exist_ok=True)
    classify = data.num_classes is not None
    metadata = {"model": spec, "data": args.data, "num_classes": data.num_classes, "settings": s,
                "l2": args.l2, "seed": args.seed}
    print(f"glassgrad train: {args.data} ({n_train} training examples, {len(data.test[0])} test), model "
          f"{spec['sizes']} {s['activation']}, {model.num_parameters():,} parameters, {s['loss']} cost, "
          f"{s['optimizer']} η={s['lr']}, batch {s['batch_size']}, {s['epochs']} epochs"
          + (f", L2 λ={args.l2}" if args.l2 else ""), flush=True)
    health = None
    if args.report:   # about 200 gradient-health snapshots over the run, for report.html
        from glassgrad.explain.health import GradientHealth
        health = GradientHealth(every=max(1, -(-n_train // s["batch_size"]) * s["epochs"] // 200))
    started = time.perf_counter()
    history = fit(model, loss, optimizer, data.train, s["epochs"], validation=data.val,
                  metrics=("accuracy",) if classify else (), batch_size=s["batch_size"], seed=args.seed,
                  penalty=penalty, progress=not args.no_progress, compile=args.compile, log=str(out / "metrics.jsonl"),
                  callbacks=[ModelCheckpoint(out / "model.npz")] + ([health] if health else []), metadata=metadata)
    seconds = time.perf_counter() - started
    test = evaluate(model, data.test, loss, ("accuracy",) if classify else ())
    print(f"\ntrained in {seconds:.1f} s" + (f" ({history.stop_reason})" if history.stop_reason else ""))
    matrix = None
    if classify:
        print(f"test accuracy {test['accuracy']:.4f}  (test loss {test['loss']:.4f})\n")
        matrix = confusion_matrix(predicted_labels(predict(model, data.test[0])), data.test[1], data.num_classes)
        print("confusion matrix (rows: true class, columns: predicted)")
        print(format_confusion(matrix))
    else:
        print(f"test loss {test['loss']:.6f}")
    (out / "summary.json").write_text(json.dumps({"test": test, "seconds": seconds, **metadata}, indent=2))
    if not len(history):   # stopped in the first epoch (a NaN loss): no checkpoint, nothing to plot
        print(f"\nwrote {out / 'metrics.jsonl'}, {out / 'summary.json'} (no epoch completed: no model.npz, "
              "no learning curve)")
        return 1
    plot = learning_curve(history, out / "learning_curve.png", title=f"{args.data}: {spec['sizes']}")
    print(f"\nwrote {out / 'model.npz'}, {out / 'metrics.jsonl'}, {out / 'summary.json'}"
          + (f", {plot}" if plot else "\n(no learning-curve PNG: matplotlib is not installed; "
                                      "pip install 'glassgrad[plot]')"))
    if health is not None:
        from glassgrad.explain.report import write_report

        report = write_report(out / "report.html", history, model, test, matrix, health,
                              title=f"glassgrad train: {args.data} {spec['sizes']}", settings=metadata)
        print(f"wrote {report}")
    return 0 if not history.stop_reason or not history.stop_reason.startswith("the loss") else 1


def _restore(path: str):
    from glassgrad.train import CheckpointError, build_model, load_checkpoint

    try:
        ckpt = load_checkpoint(path)
        spec = ckpt.metadata.get("model")
        if not spec:
            raise SystemExit(f"glassgrad: {path} has no model spec in its metadata; load it from Python with "
                             "load_checkpoint(path).restore(your_model)")
        model = build_model(spec)
        ckpt.restore(model)
    except CheckpointError as e:
        raise SystemExit(f"glassgrad: {e}") from None
    return ckpt, model


def run_evaluate(args) -> int:
    from glassgrad.train import confusion_matrix, evaluate, format_confusion, loss_by_name, predict, predicted_labels

    ckpt, model = _restore(args.checkpoint)
    name = args.data or ckpt.metadata.get("data")
    data = _load(name, args.data_path)
    split = getattr(data, args.split)
    if split is None:
        raise SystemExit(f"glassgrad evaluate: {name} has no {args.split} split")
    classify = data.num_classes is not None
    loss = loss_by_name(ckpt.metadata.get("settings", {}).get("loss", "cross_entropy"), data.num_classes)
    result = evaluate(model, split, loss, ("accuracy",) if classify else ())
    print(f"{args.checkpoint} on {name} ({args.split}, {len(split[0])} examples): "
          + "  ".join(f"{k} {v:.4f}" for k, v in result.items()))
    if classify:
        matrix = confusion_matrix(predicted_labels(predict(model, split[0])), split[1], data.num_classes)
        print("\nconfusion matrix (rows: true class, columns: predicted)")
        print(format_confusion(matrix))
    return 0


def _read_inputs(path: str):
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise SystemExit(f"glassgrad predict: no such file {p}")
    try:
        if p.suffix == ".npy":
            x = np.load(p, allow_pickle=False)
        else:
            x = np.loadtxt(p, delimiter="," if p.suffix == ".csv" else None, ndmin=2)
    except ValueError as e:
        raise SystemExit(f"glassgrad predict: cannot read {p}: {e}") from None
    return np.asarray(x, dtype=np.float32)


def run_predict(args) -> int:
    from glassgrad.train import predict, predicted_labels

    ckpt, model = _restore(args.checkpoint)
    n_in = ckpt.metadata["model"]["sizes"][0]
    if args.input:
        x, y = _read_inputs(args.input), None
    else:
        split = getattr(_load(args.data, args.data_path), args.split)
        x, y = split[0][:args.limit], split[1][:args.limit]
    x = x.reshape(len(x), -1)
    if x.shape[1] != n_in:
        raise SystemExit(f"glassgrad predict: the model takes {n_in} inputs per example but the data has {x.shape[1]}")
    out = predict(model, x)
    values = predicted_labels(out) if ckpt.metadata.get("num_classes") else out.reshape(len(out), -1)[:, 0]
    lines = [f"{v}" + ("" if y is None else f"\t(true {y[i]})") for i, v in enumerate(values.tolist())]
    if args.output:
        Path(args.output).write_text("\n".join(str(v) for v in values.tolist()) + "\n")
        print(f"wrote {len(values)} predictions to {args.output}")
    else:
        print("\n".join(lines))
    return 0
