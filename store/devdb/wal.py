"""devdb's files: length- and checksum-framed BSON records, appended to a log or written as a snapshot.

A file is a magic line, then records: ``<u32 length><u32 crc32(body)><body>`` (little-endian; the body is
one BSON document). Reading tells a torn end from damage: a crash in the middle of an append leaves the last
record short, or (a page written out of order) failing its checksum with nothing but zeros or nothing at all
after it. That end is dropped when it is the last file's; anything else that does not read back — a bad record
with records after it, a wrong magic, a torn file that was not the last — is reported as a ``DataDirError``,
one line naming the file and the byte.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

FRAME = struct.Struct("<II")  # body length, crc32 of the body
MAX_RECORD = 64 * 1024 * 1024  # more than any command devdb accepts (wire.MAX_MESSAGE_SIZE)
LOG_MAGIC, SNAPSHOT_MAGIC = b"FGDB-LOG-1\n", b"FGDB-SNAPSHOT-1\n"


class DataDirError(Exception):
    """A data dir devdb cannot use (held by another process, or damaged): one line for the person running it."""


def frame(body: bytes) -> bytes:
    return FRAME.pack(len(body), zlib.crc32(body)) + body


@dataclass
class Reading:
    """What reading a file found, once its records have been iterated: where the good records end and how many
    torn bytes follow them."""

    good_end: int = 0
    torn: int = 0


def records(path: Path, magic: bytes, reading: Reading, *, may_be_torn: bool) -> Iterator[bytes]:
    """The record bodies of ``path``, in order. ``may_be_torn``: the file was being appended to when the process
    stopped, so a torn end is dropped (``reading.torn`` bytes after ``reading.good_end``) rather than an error."""
    size = path.stat().st_size
    with path.open("rb") as f:
        if f.read(len(magic)) != magic:
            if may_be_torn and size < len(magic):  # a crash while the file was being started
                reading.torn = size
                return
            raise DataDirError(f"{path} is not a devdb {magic.decode().strip()} file (wrong header)")
        pos = reading.good_end = len(magic)
        while pos < size:
            problem = _bad_record(f, pos, size)
            if problem is None:
                length, _ = FRAME.unpack(_at(f, pos, FRAME.size))
                yield _at(f, pos + FRAME.size, length)
                pos = reading.good_end = pos + FRAME.size + length
                continue
            if may_be_torn and _torn(f, pos, size):
                reading.torn = size - pos
                return
            raise DataDirError(f"{path} is damaged at byte {pos} ({problem}); move the data dir aside to start "
                               "empty, or restore it from a copy")


def _bad_record(f: BinaryIO, pos: int, size: int) -> str | None:
    header = _at(f, pos, FRAME.size)
    if len(header) < FRAME.size:
        return "a record cut short"
    length, crc = FRAME.unpack(header)
    if not 0 < length <= MAX_RECORD or pos + FRAME.size + length > size:
        return "a record cut short" if 0 < length <= MAX_RECORD else f"a record length of {length}"
    if zlib.crc32(_at(f, pos + FRAME.size, length)) != crc:
        return "a checksum mismatch"
    return None


def _torn(f: BinaryIO, pos: int, size: int) -> bool:
    """A bad record at ``pos`` is a torn append if it reaches the end of the file, or only zeros follow it."""
    header = _at(f, pos, FRAME.size)
    if len(header) < FRAME.size:
        return True  # not even its header got written
    length = FRAME.unpack(header)[0]
    if 0 < length <= MAX_RECORD and pos + FRAME.size + length >= size:
        return True
    f.seek(pos)
    while chunk := f.read(1 << 20):
        if chunk.count(0) != len(chunk):
            return False
    return True


def _at(f: BinaryIO, pos: int, n: int) -> bytes:
    f.seek(pos)
    return f.read(n)


class AppendFile:
    """A file opened for appending records; ``sync`` makes what was appended durable."""

    def __init__(self, path: Path, magic: bytes):
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if os.fstat(self.fd).st_size == 0:
            self.write(magic)
            self.sync()
            sync_dir(path.parent)  # the new file's name must survive a crash too

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def sync(self) -> None:
        # fdatasync: an append's data and the file size it needs, without the times fsync would also flush.
        getattr(os, "fdatasync", os.fsync)(self.fd)

    def close(self) -> None:
        os.close(self.fd)


def sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def truncate(path: Path, size: int) -> None:
    """Cut a torn end off a log, durably, before anything is appended after it."""
    with path.open("r+b") as f:
        f.truncate(size)
        f.flush()
        os.fsync(f.fileno())
