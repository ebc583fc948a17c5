"""`run`: train a spec, with progress, checkpoints, resume, Ctrl-C and a JSON summary."""
from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any, TextIO

import numpy as np

from ..core.errors import DataError, ExitCode, Problem, SpecError, TrainingError
from .output import STDOUT, check_output, plot_history, plural, print_table, write_json


def command_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..api import load
    from ..train.data import check_batches, file_data, given_sections, section_data, spec_data
    from ..train.loop import Interrupted, Trainer, settings
    from ..train.progress import Bar, Lines
    from ..train.resume import Checkpointing, read_state

    for flag, path in (("--json", args.json), ("--save", args.save), ("--plot", args.plot)):
        check_output(path, flag)
    if (args.save_every or args.save_best) and args.save is None:
        raise _usage("--save-every and --save-best need --save PATH")
    if args.json == STDOUT:
        out = err  # stdout carries the JSON alone
    # The spec's data is read (and a training step rehearsed on it) unless --data replaces it.
    net = load(args.spec, seed=args.seed, check=args.check, data=args.data is None)
    for warning in net.warnings:
        print(warning, file=err)
    if net.spec.train is None:
        raise SpecError([net.source.problem((), "this spec has no 'train' section; add one "
                                            "(data, optimizer, epochs) to run it")])
    if args.load is not None:
        net.load_weights(args.load)
        # A file's NaNs are the file's fault (exit 1), not a diverged run's (exit 3).
        broken = [name for name, array in net.params.items() if not np.all(np.isfinite(array))]
        if broken:
            raise DataError([Problem("holds values that are not finite (NaN or infinite) in "
                                     + ", ".join(f"'{name}'" for name in broken)
                                     + "; a run cannot start from them", str(args.load))])
    resumed = read_state(net, args.resume) if args.resume is not None else None
    if args.data is not None:
        data, held_out = given_sections(net, file_data(net, args.data, "--data",
                                                       net.training_inputs()))
        validation = held_out.validation
    else:
        data = spec_data(net)
        validation = section_data(net, "validation")
    config = settings(net, epochs=args.epochs, lr=args.lr, seed=args.seed,
                      batch_size=args.batch_size)
    check_batches(net, len(next(iter(data.values()))), config.batch_size,
                  from_spec=args.batch_size is None, drop_last=config.drop_last)
    trainer = Trainer(net, config, data, validation)
    saving = (Checkpointing(trainer, args.save, every=args.save_every, best=args.save_best)
              if args.save is not None else None)
    if resumed is not None:
        from ..train.resume import restore

        restore(trainer, resumed, saving.best if saving is not None else None)
    if not args.quiet:
        _print_header(out, net, args, config, trainer, resumed is not None)
    every = args.log_every or (1 if config.epochs <= 100 else config.epochs // 10)
    progress = None if args.quiet else (Bar(sys.stderr, every) if sys.stderr.isatty()
                                        else Lines(out, every))

    previous = signal.getsignal(signal.SIGINT)

    def interrupt(signum: int, frame: Any) -> None:
        trainer.request_stop()
        signal.signal(signal.SIGINT, previous)  # a second Ctrl-C stops at once

    started = time.perf_counter()
    signal.signal(signal.SIGINT, interrupt)
    try:
        history = trainer.run(saving.on_epoch if saving is not None else None, progress)
    except Interrupted as exc:
        if progress is not None:
            progress.close()
        saved = saving.interrupted() if saving is not None else None
        print(f"{exc}" + (f"; checkpoint saved to {saved} (continue with --resume "
                          f"{saved})" if saved is not None else ""), file=err)
        if args.json is not None:
            write_json(args.json, _summary(args, net, config, trainer, "interrupted",
                                           error=str(exc)))
        return ExitCode.INTERRUPTED
    except TrainingError as exc:
        if progress is not None:
            progress.close()
        trainer.history.seconds = time.perf_counter() - started
        if args.json is not None:
            write_json(args.json, _summary(args, net, config, trainer, "diverged",
                                           error=str(exc)))
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
    seconds = time.perf_counter() - started
    if saving is not None:
        saving.finish()
    _report(out, net, args, history, seconds, data)
    if args.plot is not None:
        plot_history(args.plot, history.metrics, f"{net.spec.name}: {args.spec}")
    if args.json is not None:
        write_json(args.json, _summary(args, net, config, trainer, "ok", data=data,
                                       seconds=seconds))
    return ExitCode.OK


def _usage(message: str) -> Exception:
    from ..core.errors import InterpreterError

    error = InterpreterError(message)
    error.exit_code = ExitCode.USAGE
    return error


def _print_header(out: TextIO, net: Any, args: argparse.Namespace, config: Any,
                  trainer: Any, resumed: bool) -> None:
    print(f"{net.spec.name} ({args.spec}): {plural(len(net.spec.nodes), 'node')}, "
          f"{plural(net.parameter_count(), 'parameter')}, {net.dtype}", file=out)
    opt = config.optimizer
    extra = ""
    if config.schedule is not None:
        extra += f", {config.schedule.name} schedule"
    if config.clip_grad_norm is not None:
        extra += f", clip {config.clip_grad_norm:g}"
    held = (f", {len(next(iter(trainer.validation.values())))} validation rows"
            if trainer.validation is not None else "")
    print(f"training: {plural(config.epochs, 'epoch')}, {opt.name} lr={opt.lr:g}{extra}, "
          f"batch {trainer.size} of {trainer.rows} rows{held}, seed {config.seed}", file=out)
    if resumed:
        print(f"resuming from {args.resume} after epoch {trainer.epoch}"
              + (f", step {trainer.position}" if trainer.position else ""), file=out)


def _report(out: TextIO, net: Any, args: argparse.Namespace, history: Any, seconds: float,
            data: dict[str, np.ndarray]) -> None:
    from .inference import loss_targets, predicted

    numbers = "  ".join(f"{k} {v:.6g}" for k, v in history.final.items() if k != "loss")
    stopped = (f", stopped early; best epoch {history.best_epoch}"
               if history.stopped_early else "")
    print(f"final loss {history.final_loss:.6g}" + (f"  {numbers}" if numbers else "")
          + f" ({plural(history.epochs, 'epoch')}, {plural(history.steps, 'step')}, "
            f"{seconds:.2f} s{stopped})",
          file=out)
    if args.quiet:
        return
    print(file=out)
    # The outputs may read inputs that training does not (a side branch on its own input).
    absent = [name for name in net.inference_inputs() if name not in data]
    if absent:
        print("the outputs need input" + ("s " if len(absent) > 1 else " ")
              + ", ".join(f"'{name}'" for name in absent) + ", which the training data "
              "does not hold: not shown", file=out)
        return
    outputs = net.predict(data)
    print("outputs on the training data:", file=out)
    print_table(out, {**outputs, **predicted(net, outputs), **loss_targets(net, data)})


def _summary(args: argparse.Namespace, net: Any, config: Any, trainer: Any, status: str,
             error: str | None = None, data: dict | None = None,
             seconds: float | None = None) -> dict[str, Any]:
    from .inference import loss_targets

    history = trainer.history
    summary: dict[str, Any] = {
        "spec": str(args.spec), "name": net.spec.name, "status": status,
        "seed": config.seed, "epochs": history.epochs, "steps": history.steps,
        "seconds": seconds if seconds is not None else history.seconds,
        "parameters": net.parameter_count(), "final_loss": history.final_loss,
        "loss_history": history.losses, "history": history.metrics,
        "final": history.final, "stopped_early": history.stopped_early,
        "best_epoch": history.best_epoch,
    }
    if error is not None:
        summary["error"] = error
    if args.save is not None and status in ("ok", "interrupted"):
        summary["checkpoint"] = str(args.save)
    if data is not None:
        absent = [name for name in net.inference_inputs() if name not in data]
        outputs = net.predict(data) if not absent else {}
        summary["outputs"] = {k: v.tolist() for k, v in outputs.items()}
        summary["targets"] = {k: v.tolist() for k, v in loss_targets(net, data).items()}
    return summary
