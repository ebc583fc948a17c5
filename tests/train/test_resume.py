"""Resuming: a run stopped after any step and resumed from its checkpoint ends with the very
weights (and history) of a run never stopped."""
from __future__ import annotations

import numpy as np
import pytest

from ..conftest import ROOT

import interpreter
from interpreter.cli import main
from interpreter.core.errors import DataError
from interpreter.train import resume
from interpreter.train.checkpoint import read_checkpoint
from interpreter.train.data import section_data, spec_data
from interpreter.train.loop import Interrupted, Trainer, settings

from .specs import resumable

EPOCHS = 6
BATCHES = 5  # 37 rows in batches of 8


def trainer_for(text: str, **overrides) -> Trainer:
    net = interpreter.loads(text)
    return Trainer(net, settings(net, **overrides), spec_data(net),
                   section_data(net, "validation"))


class StopAfter:
    """A progress display that asks the trainer to stop after `steps` steps in all."""

    def __init__(self, trainer: Trainer, steps: int) -> None:
        self.trainer, self.steps, self.seen = trainer, steps, 0

    def start(self, trainer): pass
    def begin_epoch(self, epoch, position): pass
    def end_epoch(self, epoch, numbers, last=False): pass
    def close(self): pass

    def step(self, loss):
        self.seen += 1
        if self.seen == self.steps:
            self.trainer.request_stop()


def weights_of(trainer: Trainer) -> dict[str, np.ndarray]:
    return {name: array.copy() for name, array in trainer.weights().items()}


def assert_same_weights(found: dict[str, np.ndarray], expected: dict[str, np.ndarray]):
    assert found.keys() == expected.keys()
    for name in expected:
        assert np.array_equal(found[name], expected[name]), name


@pytest.fixture(scope="module")
def uninterrupted():
    trainer = trainer_for(resumable(EPOCHS))
    history = trainer.run()
    return weights_of(trainer), history


def test_the_spec_exercises_a_short_last_batch_dropout_and_batch_norm(uninterrupted):
    weights, history = uninterrupted
    trainer = trainer_for(resumable(EPOCHS))
    assert trainer.batches == BATCHES and trainer.rows % trainer.size == 5
    assert "bn.running_mean" in weights
    assert history.steps == EPOCHS * BATCHES
    # Dropout draws from its own generator: two seeds give two runs.
    other = trainer_for(resumable(EPOCHS), seed=5)
    other.run()
    assert not np.array_equal(weights_of(other)["out.W"], weights["out.W"])


@pytest.mark.parametrize("stop_after", [1, 7, 10, 13, 24])
def test_stopped_after_any_step_resumes_bit_for_bit(tmp_path, uninterrupted, stop_after):
    """Mid-epoch (7, 13, 24), at an epoch's end (10) and after the very first step."""
    expected, expected_history = uninterrupted
    first = trainer_for(resumable(EPOCHS))
    with pytest.raises(Interrupted, match=f"step {(stop_after - 1) % BATCHES + 1} of 5"):
        first.run(progress=StopAfter(first, stop_after))
    assert first.steps == stop_after
    path = tmp_path / "stopped.safetensors"
    resume.save(first, path)

    second = trainer_for(resumable(EPOCHS))
    resume.restore(second, resume.read_state(second.net, path))
    history = second.run()
    assert_same_weights(weights_of(second), expected)
    assert history.losses == expected_history.losses
    assert history.final == expected_history.final
    assert history.steps == EPOCHS * BATCHES


def test_resumed_twice_still_bit_for_bit(tmp_path, uninterrupted):
    expected, _ = uninterrupted
    path = tmp_path / "ck.safetensors"
    trainer = trainer_for(resumable(EPOCHS))
    for stop_after in (3, 9):
        with pytest.raises(Interrupted):
            trainer.run(progress=StopAfter(trainer, stop_after))
        resume.save(trainer, path)
        trainer = trainer_for(resumable(EPOCHS))
        resume.restore(trainer, resume.read_state(trainer.net, path))
    trainer.run()
    assert_same_weights(weights_of(trainer), expected)


def test_a_checkpoint_records_where_the_run_stopped(tmp_path):
    trainer = trainer_for(resumable(EPOCHS))
    with pytest.raises(Interrupted):
        trainer.run(progress=StopAfter(trainer, 7))
    path = tmp_path / "ck.safetensors"
    resume.save(trainer, path)
    tensors, meta = read_checkpoint(path)
    assert (meta["epoch"], meta["position"], meta["step"]) == (1, 2, 7)
    assert not meta["finished"]
    assert {"optimizer/exp_avg/h.W", "optimizer/exp_avg_sq/out.b"} <= set(tensors)
    assert len(meta["running"]["losses"]) == 2 and meta["running"]["rows"] == [8, 8]


def test_a_checkpoint_of_another_network_is_refused(tmp_path):
    trainer = trainer_for(resumable(2))
    trainer.run()
    path = tmp_path / "ck.safetensors"
    resume.save(trainer, path)
    other = interpreter.loads(resumable(2).replace("p: 0.3", "p: 0.4"))
    with pytest.raises(DataError, match="different network"):
        resume.read_state(other, path)


def _run(argv):
    code = main(argv)
    assert code == 0
    return read_checkpoint(argv[argv.index("--save") + 1])


def test_cli_resume_with_more_epochs_equals_the_whole_run(tmp_path, capsys):
    # The first part is run as a 2-epoch run: a schedule whose horizon is the run's length
    # (cosine without t_max) would differ, so this one's is fixed.
    spec = tmp_path / "spec.yaml"
    spec.write_text(resumable(EPOCHS).replace("warmup: 3}", "warmup: 3, t_max: 40}"))
    whole, part = str(tmp_path / "whole.safetensors"), str(tmp_path / "part.safetensors")
    expected, expected_meta = _run(["run", str(spec), "--save", whole, "--quiet"])
    _run(["run", str(spec), "--epochs", "2", "--save", part, "--quiet"])
    capsys.readouterr()
    found, meta = _run(["run", str(spec), "--resume", part, "--epochs", str(EPOCHS),
                        "--save", part])
    out = capsys.readouterr().out
    assert f"resuming from {part} after epoch 2" in out
    assert "epoch 3/6" in out and "epoch 2/6" not in out
    for name, array in expected.items():
        assert np.array_equal(found[name], array), name
    assert meta["step"] == expected_meta["step"] == EPOCHS * BATCHES
    assert meta["history"]["metrics"] == expected_meta["history"]["metrics"]


def test_early_stopping_s_record_and_best_weights_survive_a_resume(tmp_path):
    text = (resumable(30).replace("  seed: 4\n", "  seed: 4\n  early_stopping: {patience: 2}\n")
            + "validation: {split: 0.3}\n")
    whole = trainer_for(text)
    expected = whole.run()
    assert expected.stopped_early and expected.best_epoch < expected.epochs
    stopped = trainer_for(text)
    # 26 rows: 4 steps an epoch. Stopped after the best epoch, whose weights the
    # checkpoint must carry to be restored at the end.
    with pytest.raises(Interrupted):
        stopped.run(progress=StopAfter(stopped, 4 * expected.best_epoch + 1))
    path = tmp_path / "ck.safetensors"
    resume.save(stopped, path)
    resumed = trainer_for(text)
    resume.restore(resumed, resume.read_state(resumed.net, path))
    history = resumed.run()
    assert (history.epochs, history.best_epoch, history.stopped_early) == (
        expected.epochs, expected.best_epoch, True)
    assert_same_weights(weights_of(resumed), weights_of(whole))


def _tampered(tmp_path, change) -> str:
    import json

    import safetensors
    from safetensors.numpy import save_file

    trainer = trainer_for(resumable(2))
    trainer.run()
    path = tmp_path / "ck.safetensors"
    resume.save(trainer, path)
    with safetensors.safe_open(str(path), framework="numpy") as handle:
        record = json.loads(handle.metadata()["interpreter"])
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    change(record)
    save_file(tensors, str(path), metadata={"interpreter": json.dumps(record)})
    return str(path)


@pytest.mark.parametrize("change, message", [
    (lambda r: r.update(epoch="x"), "'epoch' is 'x', not a count"),
    (lambda r: r.update(step=-1), "'step' is -1, not a count"),
    (lambda r: r.update(lr="fast"), "'lr' is 'fast', not a finite number"),
    (lambda r: r.pop("rng"), r"cannot be resumed \(KeyError: 'rng'\)"),
    (lambda r: r["rng"].update(data={"bit_generator": "MT19937"}), "cannot be resumed"),
    (lambda r: r.pop("optimizer"), "cannot be resumed"),
], ids=["epoch", "step", "lr", "no_rng", "other_rng", "no_optimizer"])
def test_a_hand_edited_record_is_a_data_error_naming_the_file(tmp_path, capsys, change,
                                                              message):
    # Before, each of these ended in an internal error (exit 4).
    path = _tampered(tmp_path, change)
    spec = tmp_path / "spec.yaml"
    spec.write_text(resumable(2))
    assert main(["run", str(spec), "--resume", path, "--epochs", "3", "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{path}: its training record is damaged")
    assert __import__("re").search(message, err)


def test_a_mid_epoch_checkpoint_refuses_fewer_epochs_than_it_holds(tmp_path):
    """A run stopped within epoch 2 cannot resume as a 1-epoch run: its weights hold part
    of epoch 2 already."""
    import interpreter
    from interpreter.core.errors import DataError
    from interpreter.train.data import section_data
    from interpreter.train.loop import Interrupted, Trainer, settings
    from interpreter.train.resume import read_state, restore, save

    spec = ROOT / "specs" / "iris.yaml"
    net = interpreter.load(spec)
    trainer = Trainer(net, settings(net, epochs=3, batch_size=16), net.data,
                      section_data(net, "validation"))

    class StopAtTwelve:
        def start(self, trainer): pass
        def begin_epoch(self, epoch, position): pass
        def step(self, loss):
            if trainer.steps == 12:
                trainer.request_stop()
        def end_epoch(self, epoch, numbers, last=False): pass
        def close(self): pass

    with pytest.raises(Interrupted):
        trainer.run(progress=StopAtTwelve())
    save(trainer, tmp_path / "run.safetensors")
    again = interpreter.load(spec)
    short = Trainer(again, settings(again, epochs=1, batch_size=16), again.data,
                    section_data(again, "validation"))
    before = {name: array.copy() for name, array in again.params.items()}
    with pytest.raises(DataError, match=r"stopped within epoch 2 \(after 4 of its steps\), "
                       r"past the 1 epochs"):
        restore(short, read_state(again, tmp_path / "run.safetensors"))
    assert all(np.array_equal(before[k], again.params[k]) for k in before)  # untouched
