"""Spec documents the training tests share (as text, so they can be written to files)."""
from __future__ import annotations

# Adam with a per-step schedule, clipping, dropout, batch norm and shuffling, on 37 rows in
# batches of 8 (the last batch of each epoch has 5 rows): everything a resume must restore.
RESUMABLE = """version: 1
name: resumable
dtype: float64
inputs:
  X: {shape: [batch, 2]}
  y: {shape: [batch], dtype: int64}
nodes:
  - {id: h, op: linear, inputs: [X], attrs: {out_features: 8}}
  - {id: bn, op: batch_norm, inputs: [h]}
  - {id: r, op: relu, inputs: [bn]}
  - {id: d, op: dropout, inputs: [r], attrs: {p: 0.3}}
  - {id: out, op: linear, inputs: [d], attrs: {out_features: 2}}
  - {id: loss, op: softmax_cross_entropy, inputs: [out, y]}
outputs: [out]
loss: loss
train:
  data: {synthetic: moons, samples: 37, noise: 0.2}
  optimizer: {name: adam, lr: 0.05}
  schedule: {name: cosine, interval: step, warmup: 3}
  clip_grad_norm: 0.5
  batch_size: 8
  epochs: EPOCHS
  seed: 4
"""


def resumable(epochs: int = 6) -> str:
    return RESUMABLE.replace("EPOCHS", str(epochs))


# One linear unit fitting y = 2x with a learning rate the caller picks: large enough, and
# training diverges (exit 3, the place named, no checkpoint written after the NaN).
DIVERGING = """version: 1
name: diverging
inputs:
  X: {shape: [batch, 1]}
  y: {shape: [batch, 1]}
nodes:
  - {id: a, op: linear, inputs: [X], attrs: {out_features: 1}}
  - {id: loss, op: mse, inputs: [a, y]}
outputs: [a]
loss: loss
train:
  data: {inline: {X: [[1], [2], [3]], y: [[2], [4], [6]]}}
  optimizer: {name: sgd, lr: LR}
  epochs: EPOCHS
"""


def diverging(lr: str = "1.0e+6", epochs: int = 20) -> str:
    return DIVERGING.replace("LR", lr).replace("EPOCHS", str(epochs))
