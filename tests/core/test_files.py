"""Atomic writes: the target is the old file or the new one, never a mix, and the
temporary file never outlives its save (the next save removes one a killed save left)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from interpreter.core.errors import InterpreterError
from interpreter.core.files import remove_stale_temporaries, write_atomically


def _temporaries(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def test_the_file_is_written_and_no_temporary_remains(tmp_path):
    path = tmp_path / "out.bin"
    write_atomically(path, lambda stream: stream.write(b"new"))
    assert path.read_bytes() == b"new" and _temporaries(tmp_path) == []


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_permissions_follow_the_umask_not_0600(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_atomically(tmp_path / "out.bin", lambda stream: stream.write(b"x"))
    finally:
        os.umask(old)
    assert (tmp_path / "out.bin").stat().st_mode & 0o777 == mode


@pytest.mark.parametrize("error", [ValueError("bug in write"), KeyboardInterrupt()])
def test_a_failing_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, error):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")

    def write(stream):
        stream.write(b"half")
        raise error

    with pytest.raises(type(error)):
        write_atomically(path, write)
    assert path.read_bytes() == b"old" and _temporaries(tmp_path) == []


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InterpreterError, match="cannot write"):
        write_atomically(tmp_path / "no" / "out.bin", lambda stream: stream.write(b"x"))


def test_a_dead_processs_temporary_is_removed_and_a_live_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid names no process now
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        stale = tmp_path / f".out.bin.tmp-{dead.pid}-0badc0de"
        busy = tmp_path / f".out.bin.tmp-{alive.pid}-00c0ffee"
        other = tmp_path / f".other.bin.tmp-{dead.pid}-0badc0de"
        for file in (stale, busy, other):
            file.write_bytes(b"partial")
        write_atomically(tmp_path / "out.bin", lambda stream: stream.write(b"x"))
        assert not stale.exists()
        assert busy.exists() and other.exists()  # a save under way; another file's
        assert remove_stale_temporaries(tmp_path / "other.bin") == [other]
    finally:
        alive.kill()
        alive.wait()


# ----- reading: only regular files --------------------------------------------------------

def _alarm(seconds: int):
    """A read that blocks (a FIFO without a writer) fails the test instead of hanging it."""
    import signal

    def fail(*_):
        raise AssertionError("the read blocked")
    signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)


needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


@needs_fifo
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    from interpreter.core.files import NotRegularFile, open_for_reading

    os.mkfifo(tmp_path / "pipe")
    _alarm(10)
    try:
        with pytest.raises(NotRegularFile, match="is a FIFO"):
            open_for_reading(tmp_path / "pipe")
    finally:
        import signal
        signal.alarm(0)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_device_that_never_ends_is_refused():
    from interpreter.core.files import NotRegularFile, open_for_reading

    with pytest.raises(NotRegularFile, match="is a device"):
        open_for_reading("/dev/zero")


def test_a_regular_file_and_a_folder(tmp_path):
    from interpreter.core.files import open_for_reading

    (tmp_path / "f").write_bytes(b"abc")
    with open_for_reading(tmp_path / "f") as stream:
        assert stream.read() == b"abc"
    with pytest.raises(IsADirectoryError):
        open_for_reading(tmp_path)
