"""devdb's record files (store/devdb/wal.py): what a crash mid-append leaves is dropped, other damage is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.devdb.wal import FRAME, LOG_MAGIC, DataDirError, Reading, frame, records


def _read(path: Path, *, may_be_torn: bool = True) -> tuple[list[bytes], Reading]:
    reading = Reading()
    return list(records(path, LOG_MAGIC, reading, may_be_torn=may_be_torn)), reading


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "log.00000001"
    path.write_bytes(LOG_MAGIC + frame(b"first") + frame(b"second"))
    return path


def test_whole_records_read_back_in_order(log: Path) -> None:
    bodies, reading = _read(log)
    assert bodies == [b"first", b"second"]
    assert reading.torn == 0 and reading.good_end == log.stat().st_size


@pytest.mark.parametrize("tail", [
    FRAME.pack(100, 0) + b"cut",  # the header written, the body not all
    FRAME.pack(5, 0)[:5],  # the header itself cut short
    frame(b"third")[:-1] + b"X",  # all the bytes there, the last page not as written
    b"\x00" * 4096,  # the file grew, its data never reached the disk
])
def test_a_torn_last_append_is_dropped(log: Path, tail: bytes) -> None:
    good = log.stat().st_size
    log.write_bytes(log.read_bytes() + tail)
    bodies, reading = _read(log)
    assert bodies == [b"first", b"second"]
    assert (reading.good_end, reading.torn) == (good, len(tail))


def test_a_file_cut_inside_its_header_is_torn_when_last(tmp_path: Path) -> None:
    path = tmp_path / "log.00000002"
    path.write_bytes(LOG_MAGIC[:3])
    assert _read(path) == ([], Reading(good_end=0, torn=3))
    with pytest.raises(DataDirError, match="wrong header"):
        _read(path, may_be_torn=False)


def test_damage_with_records_after_it_is_an_error_naming_the_byte(log: Path) -> None:
    data = bytearray(log.read_bytes())
    data[len(LOG_MAGIC) + FRAME.size] ^= 1  # the first record's body
    log.write_bytes(bytes(data))
    with pytest.raises(DataDirError, match=rf"damaged at byte {len(LOG_MAGIC)} \(a checksum mismatch\)"):
        _read(log)


def test_a_torn_end_of_a_file_that_is_not_the_last_is_an_error(log: Path) -> None:
    log.write_bytes(log.read_bytes() + FRAME.pack(100, 0))
    with pytest.raises(DataDirError, match="a record cut short"):
        _read(log, may_be_torn=False)
