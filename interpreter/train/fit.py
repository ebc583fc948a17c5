"""`train`: one call that trains a network as its spec says, with overrides, held-out
evaluation, checkpoints and resume (what `net.train()` and `run` share)."""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..core.errors import SpecError
from .data import check_batches, given_data, given_sections, section_data, spec_data
from .history import History
from .loop import Trainer, settings
from .progress import reporter
from .resume import Checkpointing, read_state, restore

if TYPE_CHECKING:
    from ..run.network import Network


def train(net: Network, data: Mapping[str, Any] | None = None, *,
          validation: Mapping[str, Any] | None = None, epochs: int | None = None,
          lr: float | None = None, batch_size: int | None = None, shuffle: bool | None = None,
          seed: int | None = None, optimizer: Any = None, check: bool | None = None,
          on_epoch: Callable[[int, dict[str, float]], None] | None = None,
          save: str | os.PathLike | None = None, save_every: int | None = None,
          save_best: bool = False, resume: str | os.PathLike | None = None,
          progress: bool = False, **options: Any) -> History:
    """Train `net` in place as its spec's `train:` section says, with overrides.

    `data` and `validation` map input names to whole-dataset arrays (rows on axis 0);
    without them the spec's own are used. Any other field of the `train:` section can be
    overridden by name (`schedule=`, `metrics=`, `early_stopping=`, `clip_grad_norm=`,
    `drop_last=`...). Starts from the current parameters. `check` (default: the network's
    own setting) runs every step in check mode. `on_epoch(epoch, numbers)` is called after
    each epoch with its loss, lr and metrics. `save` writes a checkpoint there at the end
    (and every `save_every` epochs, or with `save_best` only when the monitored number
    improves); `resume` continues the run a checkpoint recorded (`epochs` counts every
    epoch, those before it too). `progress` shows a bar (or lines) on stderr. Returns the
    `History`; raises `TrainingError`, naming the node or parameter, if the numbers stop
    being finite.
    """
    if net.loss is None:
        raise SpecError([net.source.problem((), "this spec has no loss, so it cannot be "
                                            "trained")])
    config = settings(net, epochs=epochs, lr=lr, batch_size=batch_size, shuffle=shuffle,
                      seed=seed, optimizer=optimizer, **options)
    if data is None:
        arrays = spec_data(net)
        held_out = section_data(net, "validation")
    else:  # the spec's splits hold their rows out of the data given
        arrays, sections = given_sections(net, given_data(net, dict(data)))
        held_out = sections.validation
    if validation is not None:
        held_out = given_data(net, dict(validation))
    rows = next(iter(arrays.values())).shape[0]
    check_batches(net, rows, config.batch_size, from_spec=batch_size is None,
                  drop_last=config.drop_last)
    trainer = Trainer(net, config, arrays, held_out, check=check)
    saving = (Checkpointing(trainer, save, every=save_every, best=save_best)
              if save is not None else None)
    if resume is not None:
        restore(trainer, read_state(net, resume), saving.best if saving else None)

    def each_epoch(epoch: int, numbers: dict[str, float]) -> None:
        if saving is not None:
            saving.on_epoch(epoch, numbers)
        if on_epoch is not None:
            on_epoch(epoch, numbers)

    history = trainer.run(each_epoch, reporter(sys.stderr) if progress else None)
    if saving is not None:
        saving.finish()
    return history
