"""`run`: Ctrl-C and kill -9 leave a checkpoint that resumes, a NaN stops training with its
place named and the last good checkpoint kept, and the output options (--json -, --plot,
--log-every, progress without a terminal, file modes)."""
from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from interpreter.cli import main
from interpreter.train.checkpoint import read_checkpoint

from ..train.specs import diverging, resumable

ROOT = Path(__file__).resolve().parents[2]
# A horizon of its own, so a run's total epochs do not change its schedule.
FIXED_SCHEDULE = resumable(100_000).replace("warmup: 3}", "warmup: 3, t_max: 40}")


def run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def start_training(argv: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "interpreter", "run", *map(str, argv)],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def wait_for_epoch(process: subprocess.Popen, epoch: int) -> str:
    """Read progress lines until epoch `epoch`'s; a watchdog kills a run that hangs."""
    watchdog = threading.Timer(120, process.kill)
    watchdog.start()
    try:
        for line in process.stdout:
            if re.match(rf"epoch +{epoch}/", line):
                return line
    finally:
        watchdog.cancel()
    raise AssertionError(f"the run ended without reaching epoch {epoch}: "
                         + process.stderr.read())


def weights(path: Path) -> dict[str, np.ndarray]:
    tensors, _ = read_checkpoint(path)
    return {k: v for k, v in tensors.items() if "/" not in k}


def test_ctrl_c_saves_a_checkpoint_that_resumes_bit_for_bit(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(FIXED_SCHEDULE)
    checkpoint, summary = tmp_path / "ck.safetensors", tmp_path / "run.json"
    process = start_training([spec, "--save", checkpoint, "--json", summary,
                              "--log-every", "1"], tmp_path)
    wait_for_epoch(process, 2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert f"checkpoint saved to {checkpoint} (continue with --resume {checkpoint})" in err
    record = json.loads(summary.read_text())
    assert record["status"] == "interrupted" and record["error"].startswith("interrupted at")
    assert record["checkpoint"] == str(checkpoint)
    _, meta = read_checkpoint(checkpoint)
    assert not meta["finished"] and meta["step"] == record["steps"] >= 10
    # Stopped after a step: the epoch it was in, and the steps done of that epoch.
    assert 1 <= meta["position"] <= 5
    assert f"interrupted at epoch {meta['epoch'] + 1}, step {meta['position']} of 5" in err

    # Resumed to two epochs past the interruption, it equals a run never interrupted.
    total = meta["epoch"] + 2
    code, _, _ = run(["run", spec, "--resume", checkpoint, "--epochs", total, "--save",
                      checkpoint, "--quiet"], capsys)
    assert code == 0
    whole = tmp_path / "whole.safetensors"
    code, _, _ = run(["run", spec, "--epochs", total, "--save", whole, "--quiet"], capsys)
    assert code == 0
    expected, found = weights(whole), weights(checkpoint)
    for name in expected:
        assert np.array_equal(found[name], expected[name]), name


def test_kill_9_during_save_every_leaves_a_readable_checkpoint(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(FIXED_SCHEDULE)
    checkpoint = tmp_path / "ck.safetensors"
    process = start_training([spec, "--save", checkpoint, "--save-every", "1",
                              "--log-every", "1"], tmp_path)
    wait_for_epoch(process, 3)  # the checkpoint of epoch 2 is written
    process.kill()
    process.communicate(timeout=60)
    _, meta = read_checkpoint(checkpoint)
    assert meta["epoch"] >= 2 and meta["position"] == 0
    total = meta["epoch"] + 1
    code, out, _ = run(["run", spec, "--resume", checkpoint, "--epochs", total,
                        "--quiet"], capsys)
    assert code == 0 and out.startswith("final loss")




def test_a_nan_stops_with_its_place_and_keeps_the_last_finite_checkpoint(tmp_path, capsys):
    spec = tmp_path / "diverging.yaml"
    spec.write_text(diverging("1.0", 200))
    checkpoint, summary = tmp_path / "ck.safetensors", tmp_path / "run.json"
    code, _, err = run(["run", spec, "--save", checkpoint, "--save-every", "1",
                        "--json", summary, "--quiet"], capsys)
    assert code == 3
    # float32 overflows in the loss's square first: that node is named, at its line.
    assert err.startswith(f"{spec}:8:5: node 'loss' (mse): output became non-finite")
    assert "lower the learning rate" in err
    record = json.loads(summary.read_text())
    assert record["status"] == "diverged"
    assert record["error"] in err
    assert "checkpoint" not in record
    tensors, meta = read_checkpoint(checkpoint)
    assert meta["epoch"] >= 2  # it did train a while before diverging
    assert f"at epoch {meta['epoch'] + 1}, step 1 " in err
    assert len(record["loss_history"]) == meta["epoch"]
    for name, array in tensors.items():
        assert np.all(np.isfinite(array)), name
    assert all(math.isfinite(v) for v in meta["history"]["metrics"]["loss"])


# ----- output ------------------------------------------------------------------------------

SMALL = resumable(3)


@pytest.fixture
def small(tmp_path: Path) -> Path:
    spec = tmp_path / "small.yaml"
    spec.write_text(SMALL)
    return spec


def test_json_dash_prints_valid_json_alone_on_stdout(small, capsys):
    code, out, err = run(["run", small, "--json", "-"], capsys)
    assert code == 0
    summary = json.loads(out)
    assert summary["status"] == "ok" and summary["epochs"] == 3
    assert "final loss" in err and "epoch 3/3" in err  # the rest goes to stderr


def test_output_files_are_readable_by_others_under_umask_022(small, tmp_path, capsys):
    old = os.umask(0o022)
    try:
        outputs = [tmp_path / "ck.safetensors", tmp_path / "run.json", tmp_path / "w.npz"]
        code, _, _ = run(["run", small, "--save", outputs[0], "--json", outputs[1],
                          "--quiet"], capsys)
        assert code == 0
        code, _, _ = run(["run", small, "--save", outputs[2], "--quiet"], capsys)
        assert code == 0
        predictions = tmp_path / "p.csv"
        assert main(["predict", str(small), "--weights", str(outputs[0]), "-o",
                     str(predictions)]) == 0
    finally:
        os.umask(old)
    for path in outputs + [predictions]:
        assert path.stat().st_mode & 0o777 == 0o644, path


def test_plot_writes_a_png(small, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    picture = tmp_path / "curves.png"
    code, _, _ = run(["run", small, "--plot", picture, "--quiet"], capsys)
    assert code == 0
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_how_to_install_it(small, tmp_path, capsys,
                                                        monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, _, err = run(["run", small, "--plot", tmp_path / "c.png", "--quiet"], capsys)
    assert code == 1
    assert "--plot needs matplotlib" in err and "pip install matplotlib" in err
    assert not (tmp_path / "c.png").exists()


def test_progress_without_a_terminal_is_plain_lines(small, capsys):
    code, out, err = run(["run", small], capsys)  # capsys' streams are no terminals
    assert code == 0
    assert "\r" not in out and "\r" not in err
    assert [line.split()[1] for line in out.splitlines() if line.startswith("epoch")] == [
        "1/3", "2/3", "3/3"]


def test_log_every_prints_the_first_every_nth_and_last_epoch(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(resumable(7))
    code, out, _ = run(["run", spec, "--log-every", "3"], capsys)
    assert code == 0
    assert [line.split()[1] for line in out.splitlines() if line.startswith("epoch")] == [
        "1/7", "3/7", "6/7", "7/7"]
