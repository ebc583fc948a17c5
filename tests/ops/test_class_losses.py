"""Class weights, ignore_index and reduction: none for nll and softmax_cross_entropy in a
spec: the optional weight input, labels at ignore_index passing the feed check (and only
they), the errors, and per-position losses that a further node reduces into the loss."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter import gradcheck
from interpreter.core.errors import SpecError

HEADER = """version: 1
name: t
inputs:
  X: {shape: [batch, 3]}
  labels: {shape: [batch], dtype: int64}
  probabilities: {shape: [batch, 3]}
  w: {shape: [3]}
  w4: {shape: [4]}
nodes:
"""


def problems(nodes: str, tail: str = "outputs: [loss]\n") -> list[str]:
    with pytest.raises(SpecError) as info:
        interpreter.loads(HEADER + nodes + tail, name="t.yaml")
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("node, message", [
    ("{id: loss, op: nll, inputs: [X, labels, w, w]}",
     "t.yaml:10:33: node 'loss' (nll): takes 2 to 3 inputs (log_probs, labels, weight?), "
     "got 4"),
    ("{id: loss, op: nll, inputs: [X, labels, w4]}",
     "t.yaml:10:45: node 'loss' (nll): weight has shape (4,) but log_probs (batch, 3) has 3 "
     "classes; class weights are one per class, of shape (3,)"),
    ("{id: loss, op: softmax_cross_entropy, inputs: [X, labels, labels]}",
     "t.yaml:10:63: node 'loss' (softmax_cross_entropy): weight must be a float tensor, but "
     "'labels' is int64"),
    ("{id: loss, op: softmax_cross_entropy, inputs: [X, probabilities],"
     " attrs: {ignore_index: 0}}",
     "t.yaml:10:55: node 'loss' (softmax_cross_entropy): labels of shape (batch, 3) (the "
     "logits' shape) are class probabilities, and ignore_index applies only to class "
     "indices (as in PyTorch)"),
])
def test_misuse_is_a_located_error(node, message):
    assert problems(f"  - {node}\n") == [message]


def test_per_position_losses_cannot_be_the_loss_and_the_error_says_what_to_do():
    lines = problems("  - {id: loss, op: nll, inputs: [X, labels], attrs: {reduction: none}}\n",
                     "outputs: [loss]\nloss: loss\n")
    assert lines == ["t.yaml:12:7: loss 'loss' must be a scalar, but its shape is (batch,); "
                     "its reduction is 'none': use mean or sum, or reduce it with a sum or "
                     "mean node and make that the loss"]


def network(attrs: str, extra_inputs: str = "", loss: str = "loss") -> interpreter.Network:
    text = f"""version: 1
name: t
dtype: float64
inputs:
  X: {{shape: [batch, 2]}}
  labels: {{shape: [batch], dtype: int64}}
  w: {{shape: [3]}}
nodes:
  - {{id: logits, op: linear, inputs: [X], attrs: {{out_features: 3}}}}
  - {{id: losses, op: softmax_cross_entropy, inputs: [logits, labels{extra_inputs}],
      attrs: {attrs}}}
  - {{id: loss, op: sum, inputs: [losses]}}
outputs: [losses]
loss: {loss}
"""
    return interpreter.loads(text, name="t.yaml")


def test_labels_at_ignore_index_pass_the_feed_check_and_no_other_outside_value_does():
    net = network("{ignore_index: -100}")
    X = np.ones((3, 2))
    net.forward({"X": X, "labels": np.array([0, -100, 2])})
    with pytest.raises(interpreter.FeedError, match=r"input 'labels' holds -5, but node "
                       r"'losses' \(softmax_cross_entropy\) needs labels in \[0, 3\) or "
                       r"equal to -100"):
        net.forward({"X": X, "labels": np.array([0, -5, -100])})
    with pytest.raises(interpreter.FeedError, match=r"needs labels in \[0, 3\)$"):
        network("{}").forward({"X": X, "labels": np.array([0, -100, 2])})


def test_summed_per_position_losses_are_the_sum_reduction_with_its_gradients():
    rng = np.random.default_rng(0)
    feeds = {"X": rng.normal(size=(6, 2)), "labels": np.array([0, 1, -1, 2, 1, -1]),
             "w": np.array([0.5, 2.0, 1.5])}
    attrs = "{reduction: none, ignore_index: -1, label_smoothing: 0.1}"
    per_position = network(attrs, ", w")
    summed = network("{reduction: sum, ignore_index: -1, label_smoothing: 0.1}", ", w",
                     loss="losses")
    summed.params.update({k: v.copy() for k, v in per_position.params.items()})
    losses = per_position.forward(feeds)
    assert losses["losses"].shape == (6,) and losses["losses"][2] == 0.0
    np.testing.assert_allclose(losses["loss"], summed.forward(feeds)["losses"], rtol=1e-14)
    ours, theirs = per_position.backward(), summed.backward()
    for name in ours:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-13)
    assert gradcheck.check_network(per_position, feeds) < 1e-6
