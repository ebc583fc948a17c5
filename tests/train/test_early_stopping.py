"""Early stopping as Keras's: patience, min_delta, mode auto (max for accuracy), and the
best epoch's weights restored."""
from __future__ import annotations

import numpy as np
import pytest

from ..conftest import ROOT

import interpreter
from interpreter.check.document import EarlyStoppingSpec
from interpreter.train.early_stopping import EarlyStopping


def stops_after(values, **spec) -> int | None:
    """The epoch (1-based) at which training stops on this sequence, None if never."""
    stopper = EarlyStopping(EarlyStoppingSpec(**spec), has_validation=True)
    key = stopper.monitor
    for epoch, value in enumerate(values, start=1):
        if stopper.update(epoch, {key: value}, {}):
            return epoch
    return None


def test_patience_counts_epochs_without_improvement():
    losses = [1.0, 0.8, 0.9, 0.85, 0.81, 0.7]
    assert stops_after(losses, patience=3) == 5  # best at 2; 3, 4, 5 do not improve
    assert stops_after(losses, patience=4) is None
    assert stops_after(losses, patience=0) == 3  # Keras: wait >= 0 at the first miss


def test_min_delta_needs_an_improvement_larger_than_it():
    losses = [1.0, 0.97, 0.96, 0.94]
    assert stops_after(losses, patience=2, min_delta=0.05) == 3  # neither is < 0.95
    # 0.97 improves; 0.96 is not < 0.97 - 0.01; 0.94 is.
    assert stops_after(losses, patience=2, min_delta=0.01) is None
    assert stops_after([1.0, 0.97, 0.96], patience=1, min_delta=0.01) == 3


def test_mode_auto_maximises_accuracy_and_r2_and_minimises_the_rest():
    rising = [0.5, 0.6, 0.7, 0.8]
    assert stops_after(rising, monitor="val_accuracy", patience=1) is None
    assert stops_after(rising, monitor="top_3_accuracy", patience=1) is None
    assert stops_after(rising, monitor="val_r2", patience=1) is None
    assert stops_after(rising, monitor="val_loss", patience=1) == 2
    assert stops_after(rising, monitor="val_accuracy", mode="min", patience=1) == 2
    assert EarlyStopping(EarlyStoppingSpec(), has_validation=False).monitor == "loss"
    assert EarlyStopping(EarlyStoppingSpec(), has_validation=True).monitor == "val_loss"


def overfitting_net():
    """Few noisy training rows and a validation set from the true line: the validation
    loss falls, then rises as the network fits the noise."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(6, 5))
    y = X[:, :1] + rng.normal(scale=1.0, size=(6, 1))
    Xv = rng.normal(size=(40, 5))
    yv = Xv[:, :1]
    document = {
        "version": 1, "name": "overfit", "dtype": "float64",
        "inputs": {"X": {"shape": ["batch", 5]}, "y": {"shape": ["batch", 1]}},
        "nodes": [{"id": "a", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 1}},
                  {"id": "loss", "op": "mse", "inputs": ["a", "y"]}],
        "outputs": ["a"], "loss": "loss",
        "train": {"data": {"inline": {"X": X.tolist(), "y": y.tolist()}},
                  "validation": {"inline": {"X": Xv.tolist(), "y": yv.tolist()}},
                  "optimizer": {"name": "sgd", "lr": 0.05}, "epochs": 400,
                  "early_stopping": {"patience": 5}},
    }
    return interpreter.load(document)


def test_training_stops_early_and_restores_the_best_epoch_s_weights():
    net = overfitting_net()
    seen = {}

    def on_epoch(epoch, numbers):
        net.params.sync()
        seen[epoch] = {name: array.copy() for name, array in net.params.items()}

    history = net.train(on_epoch=on_epoch)
    val = history.metrics["val_loss"]
    assert history.stopped_early and history.epochs < 400
    best = int(np.argmin(val)) + 1
    assert history.best_epoch == best and history.epochs == best + 5
    for name, array in seen[best].items():
        assert np.array_equal(net.params[name], array), name
    assert history.final["val_loss"] == pytest.approx(val[best - 1], rel=1e-12)


def test_without_restore_best_the_last_weights_stay():
    net = overfitting_net()
    history = net.train(early_stopping={"patience": 5, "restore_best": False})
    assert history.stopped_early
    assert history.final["val_loss"] == pytest.approx(history.metrics["val_loss"][-1],
                                                      rel=1e-12)
    assert history.final["val_loss"] > min(history.metrics["val_loss"])


def test_a_monitor_the_run_does_not_record_is_a_located_error():
    """iris monitors val_loss; a Trainer given no validation rows says so, at the spec's
    early_stopping line, instead of failing after the first epoch."""
    import interpreter
    from interpreter.core.errors import SpecError
    from interpreter.train.loop import Trainer, settings

    net = interpreter.load(ROOT / "specs" / "iris.yaml")
    with pytest.raises(SpecError, match=r"iris.yaml:\d+:\d+: early_stopping monitors "
                       r"'val_loss', which this run does not record .*give it validation"):
        Trainer(net, settings(net, epochs=2), net.data)
