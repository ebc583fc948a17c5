"""The one .npz reader: hostile archives are refused with a reason, before data is read."""
from __future__ import annotations

import io
import os
import struct
import time
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

from interpreter.read import npz
from interpreter.read.npz import (DEFAULT_MAX_BYTES, NpzError, NpzMismatch, read_arrays,
                                  read_headers, read_npy)


def test_a_good_archive_reads_back_exactly(tmp_path):
    path = tmp_path / "ok.npz"
    np.savez_compressed(path, X=np.arange(6.0).reshape(2, 3), labels=np.array([1, 2]))
    assert read_headers(path) == {"X": ((2, 3), np.dtype("float64")),
                                  "labels": ((2,), np.dtype("int64"))}
    arrays = read_arrays(path)
    np.testing.assert_array_equal(arrays["X"], np.arange(6.0).reshape(2, 3))


def test_pickled_objects_are_never_loaded(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, X=np.array([{"a": 1}], dtype=object))
    with pytest.raises(NpzError, match="member 'X' holds Python objects"):
        read_arrays(path)


def test_text_arrays_are_refused(tmp_path):
    path = tmp_path / "text.npz"
    np.savez(path, X=np.array(["a", "b"]))
    with pytest.raises(NpzError, match="member 'X' holds <U1 values, not numbers"):
        read_arrays(path)


def _archive_with_header(shape: tuple[int, ...]) -> bytes:
    """A zip whose one member claims `shape` but holds no data (a memory bomb)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": shape})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("X.npy", b"\x93NUMPY\x01\x00" + header.getvalue()[8:])
    return buffer.getvalue()


def test_a_header_that_claims_more_than_the_member_holds_is_refused_before_reading(tmp_path):
    path = tmp_path / "bomb.npz"
    path.write_bytes(_archive_with_header((10**6, 10**6)))
    with pytest.raises(NpzError, match=r"member 'X' is corrupt or truncated \(its header "
                                       r"declares \(1000000, 1000000\) float64, "
                                       r"8000000000000 bytes, but it holds 0\)"):
        read_arrays(path)


def test_arrays_over_the_budget_are_refused_from_their_headers(tmp_path):
    path = tmp_path / "big.npz"
    np.savez(path, X=np.zeros((64, 64)))
    with pytest.raises(NpzError, match=r"would take more than .* \('X' alone is "
                                       r"\(64, 64\) float64\)"):
        read_arrays(path, max_bytes=1000)


def test_the_default_budget_is_at_most_the_machines_memory():
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert DEFAULT_MAX_BYTES == min(4 * 2**30, memory)


def test_a_truncated_member_is_named(tmp_path):
    path = tmp_path / "short.npz"
    path.write_bytes(_archive_with_header((3, 3)))
    with pytest.raises(NpzError, match="member 'X' is corrupt or truncated"):
        read_arrays(path)


def test_a_member_that_is_not_an_array_is_named(tmp_path):
    path = tmp_path / "notes.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("README.txt", "hello")
    with pytest.raises(NpzError, match="member 'README.txt' is not an .npy array"):
        read_arrays(path)


def _deflated_zeros_archive(name: str, megabytes: int, crc: int = 0) -> bytes:
    """A zip whose one member is an honest .npy of `megabytes` MiB of float64 zeros, deflated
    to about a thousandth of that: the "1 MB file holding a 1 GiB array" of issue 8.

    Built without compressing a GiB: after a full flush, deflate forgets what came before,
    so every MiB of zeros compresses to the same bytes, which are repeated.
    """
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (megabytes * 2**17,)})
    npy_header = header.getvalue()
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = deflate.compress(npy_header) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(bytes(2**20)) + deflate.flush(zlib.Z_FULL_FLUSH)
    data = start + block * megabytes + deflate.flush()
    size = len(npy_header) + megabytes * 2**20
    file_name = f"{name}.npy".encode()
    # `crc` is checked only at a member's end, which the bomb tests must never reach.
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(data), size,
                        len(file_name), 0) + file_name
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(data),
                          size, len(file_name), 0, 0, 0, 0, 0, 0) + file_name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central),
                      len(local) + len(data), 0)
    return local + data + central + end


def test_an_unexpected_gib_member_in_a_small_file_is_refused_before_decompressing(tmp_path):
    path = tmp_path / "bomb.npz"
    path.write_bytes(_deflated_zeros_archive("huge", 1024))
    assert path.stat().st_size < 2 * 2**20
    assert read_headers(path) == {"huge": ((2**27,), np.dtype("float64"))}

    def expect(headers):
        return [f"unexpected '{name}' {shape}" for name, (shape, _) in headers.items()
                if name != "W"] + ["no 'W'"]

    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(NpzMismatch) as caught:
            read_arrays(path, expect=expect)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.messages == ["unexpected 'huge' (134217728,)", "no 'W'"]
    assert peak < 2**30 / 100 and time.perf_counter() - started < 1


def test_a_member_over_the_budget_is_refused_before_decompressing(tmp_path):
    path = tmp_path / "bomb.npz"
    path.write_bytes(_deflated_zeros_archive("X", 1024))
    tracemalloc.start()
    try:
        with pytest.raises(NpzError, match="would take more than 0.5 GiB"):
            read_arrays(path, max_bytes=2**29)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**30 / 100


def test_the_deflated_zeros_helper_makes_a_readable_archive(tmp_path):
    path = tmp_path / "small.npz"
    crc = zlib.crc32(bytes(2 * 2**20), zlib.crc32(_npy_bytes("<f8", (2 * 2**17,))))
    path.write_bytes(_deflated_zeros_archive("X", 2, crc))
    with zipfile.ZipFile(path) as archive, archive.open("X.npy") as stream:
        assert len(stream.read(2**22)) == 2 * 2**20 + 128


def test_only_the_named_members_are_read(tmp_path, monkeypatch):
    path = tmp_path / "two.npz"
    np.savez(path, X=np.ones(2), Y=np.zeros(3))
    read = []
    real = np.lib.format.read_array

    def counting(stream, **kwargs):
        read.append(stream.name)
        return real(stream, **kwargs)

    monkeypatch.setattr(npz.np.lib.format, "read_array", counting)
    assert list(read_arrays(path, only={"Y"})) == ["Y"] and read == ["Y.npy"]


def test_memory_errors_while_reading_become_a_message(tmp_path, monkeypatch):
    path = tmp_path / "ok.npz"
    np.savez(path, X=np.ones(3))

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(npz.np.lib.format, "read_array", no_memory)
    with pytest.raises(NpzError, match="member 'X' needs more memory than is available"):
        read_arrays(path)
    np.save(tmp_path / "one.npy", np.ones(3))
    with pytest.raises(NpzError, match="the array needs more memory than is available"):
        read_npy(tmp_path / "one.npy")


def test_an_npy_file_reads_back_exactly(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(6, dtype=np.int32).reshape(2, 3))
    array = read_npy(tmp_path / "a.npy")
    assert array.dtype == np.int32
    np.testing.assert_array_equal(array, np.arange(6).reshape(2, 3))


def _npy_bytes(descr: str, shape: tuple[int, ...], data: bytes = b"") -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": descr, "fortran_order": False,
                                                  "shape": shape})
    return header.getvalue() + data


@pytest.mark.parametrize("content, message", [
    (_npy_bytes("|O", (2,)), "the array holds Python objects"),
    (_npy_bytes("<U1", (2,)), "holds <U1 values, not numbers"),
    (_npy_bytes("<f8", (10**6, 10**6)), r"the array is corrupt or truncated \(its header "
                                         r"declares \(1000000, 1000000\) float64"),
    (_npy_bytes("<f8", (3,), b"\0" * 8), "the array is corrupt or truncated"),
    (b"\x93NUMPY\x01\x00\xff", "the array is not a valid .npy array"),
    (b"PK\x03\x04" + bytes(30), "an .npz archive of named arrays, not one .npy array"),
    (b"\x80\x04K\x01.", "a Python pickle, which is never loaded"),
    (b"", "the file is empty"),
    (b"X,y\n1,2\n", "the file is not an .npy array"),
])
def test_hostile_npy_files_are_refused_with_a_reason(tmp_path, content, message):
    path = tmp_path / "bad.npy"
    path.write_bytes(content)
    with pytest.raises(NpzError, match=message):
        read_npy(path)


def test_an_npy_over_the_budget_is_refused_from_its_header(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(1000))
    with pytest.raises(NpzError, match=r"the array would take more than .* \(\(1000,\) float64"):
        read_npy(tmp_path / "a.npy", max_bytes=100)


def test_a_missing_npy_is_named():
    with pytest.raises(NpzError, match="no such file"):
        read_npy("/nonexistent/a.npy")
