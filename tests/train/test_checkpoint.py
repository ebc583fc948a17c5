"""Checkpoints: safetensors with the run's record; formats told by content; pickles refused;
every mismatch with the network listed at once, from the headers; saves survive kill -9."""
from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from interpreter.core.errors import DataError
from interpreter.train.checkpoint import read_checkpoint, save_checkpoint
from interpreter.train.weights import load_weights, save_weights

ROOT = Path(__file__).resolve().parents[2]
F32 = np.dtype(np.float32)


def _tensors() -> dict[str, np.ndarray]:
    return {"a1.W": np.arange(6, dtype=np.float32).reshape(2, 3),
            "bn.running_mean": np.ones(3, dtype=np.float32),
            "optimizer/exp_avg/a1.W": np.full((2, 3), 0.5, dtype=np.float32)}


def _messages(caught) -> list[str]:
    return [problem.message for problem in caught.value.problems]


def test_tensors_and_record_read_back(tmp_path):
    path = tmp_path / "run.safetensors"
    rng_state = np.random.default_rng(0).bit_generator.state
    meta = {"spec_hash": "abc", "epoch": np.int64(3), "step": 12, "rng": rng_state,
            "metrics": {"loss": np.float32(0.25)}, "optimizer": {"name": "adam", "t": 12}}
    save_checkpoint(path, _tensors(), meta)
    tensors, record = read_checkpoint(path)
    assert set(tensors) == set(_tensors())
    np.testing.assert_array_equal(tensors["a1.W"], _tensors()["a1.W"])
    assert tensors["a1.W"].dtype == F32
    assert record == {"spec_hash": "abc", "epoch": 3, "step": 12, "rng": rng_state,
                      "metrics": {"loss": 0.25}, "optimizer": {"name": "adam", "t": 12}}
    np.random.default_rng().bit_generator.state = record["rng"]  # restorable as is


def test_the_file_is_plain_safetensors_for_other_readers(tmp_path):
    path = tmp_path / "run.safetensors"
    save_checkpoint(path, _tensors(), {"epoch": 1})
    assert set(safetensors.numpy.load_file(path)) == set(_tensors())
    with safetensors.safe_open(path, framework="numpy") as handle:
        assert json.loads(handle.metadata()["interpreter"]) == {"format": 1, "epoch": 1}


def test_the_format_is_told_by_content_not_suffix(tmp_path):
    save_checkpoint(tmp_path / "really_safetensors.npz", _tensors(), {"epoch": 2})
    with open(tmp_path / "really_npz.safetensors", "wb") as stream:  # np.savez adds .npz
        np.savez(stream, **{"a1.W": np.ones((2, 3), F32)})
    assert read_checkpoint(tmp_path / "really_safetensors.npz")[1] == {"epoch": 2}
    tensors, record = read_checkpoint(tmp_path / "really_npz.safetensors")
    assert list(tensors) == ["a1.W"] and record == {}


def test_a_foreign_safetensors_file_has_an_empty_record(tmp_path):
    safetensors.numpy.save_file({"a1.W": np.ones((2, 3), F32)}, tmp_path / "hub.safetensors")
    assert read_checkpoint(tmp_path / "hub.safetensors")[1] == {}


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_every_mismatch_is_listed_at_once(tmp_path, suffix):
    path = tmp_path / f"w{suffix}"
    stored = {"a1.w": np.ones((2, 3), F32), "a2.W": np.ones((4, 4), F32),
              "a2.b": np.ones(4, np.float64), "bn.count": np.ones(1, np.int64),
              "optimizer/step/a1.W": np.ones(1, F32)}
    save_weights(stored, path)
    expected = {"a1.W": ((2, 3), F32), "a2.W": ((4, 2), F32), "a2.b": ((4,), F32),
                "bn.count": ((1,), F32), "scale": ((1,), F32)}
    with pytest.raises(DataError) as caught:
        read_checkpoint(path, expected, what="weights")
    assert sorted(_messages(caught)) == sorted([
        "holds 'a1.w', which this network does not have (did you mean 'a1.W'?)",
        "'a2.W' has shape (4, 4), but the network's is (4, 2)",
        "'a2.b' holds float64 values, but the network's are float32 (convert them before "
        "loading; they are never cast silently)",
        "'bn.count' holds int64 values, but the network's are float32 (convert them before "
        "loading; they are never cast silently)",
        "has no 'a1.W'", "has no 'scale'"])
    assert all(problem.file == str(path) for problem in caught.value.problems)


def test_load_weights_changes_nothing_on_a_mismatch_and_skips_optimizer_state(tmp_path):
    path = tmp_path / "run.safetensors"
    save_checkpoint(path, _tensors(), {"epoch": 1})
    targets = {"a1.W": np.zeros((2, 3), F32), "bn.running_mean": np.zeros(3, F32)}
    load_weights(targets, path)
    np.testing.assert_array_equal(targets["a1.W"], _tensors()["a1.W"])
    tensors, _ = read_checkpoint(path, {k: (v.shape, v.dtype) for k, v in targets.items()},
                                 namespaced=False)
    assert set(tensors) == set(targets)  # the optimizer's moments stay unread
    wrong = {"a1.W": np.zeros((2, 3), F32), "bn.running_mean": np.zeros(4, F32)}
    with pytest.raises(DataError, match="'bn.running_mean' has shape"):
        load_weights(wrong, path)
    assert not wrong["a1.W"].any()


def test_save_weights_writes_safetensors_or_npz_by_suffix(tmp_path):
    arrays = {"a1.W": np.ones((2, 3), F32)}
    save_weights(arrays, tmp_path / "w.safetensors")
    save_weights(arrays, tmp_path / "w.npz")
    assert (tmp_path / "w.safetensors").read_bytes()[8:9] == b"{"
    assert zipfile.is_zipfile(tmp_path / "w.npz")
    for name in ("w.safetensors", "w.npz"):
        targets = {"a1.W": np.zeros((2, 3), F32)}
        load_weights(targets, tmp_path / name)
        assert targets["a1.W"].all()


def _torch_like_zip(path: Path) -> None:
    """What torch.save writes (a zip holding `archive/data.pkl`), without needing torch."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"a1.W": [1.0]}))
        archive.writestr("archive/version", "3\n")


def test_pickles_are_refused_naming_the_accepted_formats(tmp_path):
    (tmp_path / "model.pkl").write_bytes(pickle.dumps({"a1.W": np.ones(3)}))
    _torch_like_zip(tmp_path / "model.pt")
    for name in ("model.pkl", "model.pt"):
        with pytest.raises(DataError) as caught:
            read_checkpoint(tmp_path / name, what="weights")
        assert _messages(caught) == [
            "cannot read weights: the file is a Python pickle, which is never loaded "
            "because it could run code (torch.save writes pickles); accepted formats: "
            ".safetensors (written by run --save), .npz"]


def _safetensors_bytes(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


@pytest.mark.parametrize("content, message", [
    (b"hello, world\n", "the file is not an .npz archive or a .safetensors file; accepted "
                        "formats: .safetensors"),
    (b"", "the file is empty"),
    (np.lib.format.magic(1, 0) + b"\0" * 10, r"an .npy file \(one array\)"),
    ((10**12).to_bytes(8, "little") + b"{}", r"the file is corrupt or truncated \(its "
                                             r"safetensors header claims 1000000000000 bytes"),
    (_safetensors_bytes({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}},
                        bytes(8)), "not a valid safetensors file"),
    (b"\x10" + bytes(7) + b"{not json at all", "not a valid safetensors file"),
    (_safetensors_bytes({"__metadata__": {"interpreter": "{oops"}}, b""),
     "its 'interpreter' metadata is not valid JSON"),
    (_safetensors_bytes({"__metadata__": {"interpreter": '{"format": 7}'}}, b""),
     "written in checkpoint format 7, by a newer version; this one reads format 1"),
    (_safetensors_bytes({"x": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}},
                        bytes(4)), "'x' holds BF16 values, which numpy cannot hold"),
])
def test_hostile_files_are_refused_with_a_reason(tmp_path, content, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as caught:
        read_checkpoint(path)
    assert caught.value.problems[0].file == str(path)


def test_a_truncated_checkpoint_is_refused(tmp_path):
    path = tmp_path / "run.safetensors"
    save_checkpoint(path, _tensors(), {"epoch": 1})
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(DataError, match="cannot read checkpoint: not a valid safetensors"):
        read_checkpoint(path)


def test_a_header_length_of_gigabytes_is_refused_before_reading_it(tmp_path):
    path = tmp_path / "bomb.safetensors"
    with open(path, "wb") as stream:
        stream.write((150_000_000).to_bytes(8, "little") + b"{")
        stream.truncate(200_000_000)  # sparse: costs no disk
    with pytest.raises(DataError, match="header claims 150000000 bytes, more than the "
                                        "100000000 any real checkpoint needs"):
        read_checkpoint(path)


_SAVER = """
import sys
import numpy as np
from interpreter.train.checkpoint import save_checkpoint
path = sys.argv[1]
save_checkpoint(path, {"w": np.full(10, 1.0)}, {"epoch": 1})
print("saved", flush=True)
big = {"w": np.ones(2**25)}  # 256 MiB: a save that takes a while to write and fsync
save_checkpoint(path, big, {"epoch": 2})
"""


def test_a_save_killed_mid_write_leaves_the_previous_checkpoint(tmp_path):
    path = tmp_path / "run.safetensors"
    child = subprocess.Popen([sys.executable, "-c", _SAVER, str(path)], cwd=ROOT,
                             stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert child.stdout.readline() == b"saved\n"
        deadline = time.monotonic() + 20
        temporary = None
        while temporary is None and time.monotonic() < deadline and child.poll() is None:
            for candidate in tmp_path.glob(".run.safetensors.tmp-*"):
                try:
                    if candidate.stat().st_size > 0:  # the big save is being written
                        temporary = candidate
                except FileNotFoundError:
                    pass
        assert temporary is not None, "the child never started its big save"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert temporary.exists()  # killed before the rename: the stray file a kill leaves
    tensors, record = read_checkpoint(path)
    assert record == {"epoch": 1} and tensors["w"].shape == (10,)
    save_checkpoint(path, {"w": np.zeros(3)}, {"epoch": 3})  # the next save tidies up
    assert not temporary.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.safetensors"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_instead_of_waiting_for_a_writer(tmp_path):
    path = tmp_path / "pipe.safetensors"
    os.mkfifo(path)
    with pytest.raises(DataError, match="is a FIFO"):
        read_checkpoint(path)
