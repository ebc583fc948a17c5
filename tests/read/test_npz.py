"""The one .npz reader: hostile archives are refused with a reason, before data is read."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from interpreter.read.npz import NpzError, read_arrays, read_headers


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


def test_a_header_that_claims_too_much_memory_is_refused_before_reading(tmp_path):
    path = tmp_path / "bomb.npz"
    path.write_bytes(_archive_with_header((10**6, 10**6)))
    with pytest.raises(NpzError, match=r"would take more than 4 GiB \('X' alone is "
                                       r"\(1000000, 1000000\) float64\)"):
        read_arrays(path)


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
