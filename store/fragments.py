"""The FHIR JSON of stored documents, remembered by their bytes: a search page spliced into its Bundle without
decoding each document to Python and encoding it again.

A page of 50 Patients is ~240 KB of BSON; decoding it to dicts and dumping them back as JSON was most of the app's
CPU per search page (bench/README.md, "The search page of 50"). The JSON of a stored document is a function of its
bytes alone — the same bytes always give the same resource — so it is kept with those bytes, under the document's
``_id`` (a short key to hash): a document whose bytes equal the ones kept (one comparison) is a hit, any other
(another version, or a document rewritten in place) is decoded and replaces them. Nothing here can be stale: the
database is asked every time, and only what it answers is looked up. The store's codec options (``tz_aware``) are
one per process, so one cache per process is one function.

Bounded by bytes (the documents' and their JSON's, ``MAX_BYTES``), least recently used out first.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import bson
import orjson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

from store.layout import strip
from store.reads import id_end, raw_first_batch

MAX_BYTES = 64 * 1024 * 1024  # e.g. ~7,000 demo Patients (~4.7 KB stored + ~3.9 KB of JSON each)
MAX_DOCUMENT = 1024 * 1024  # larger ones are encoded each time: few, and they would push out many
MAX_PAGE_BYTES = 16 * 1024 * 1024  # the replies ``replied`` holds (~240 KB a page of 50 demo Patients)
PAGE_KEY = 256  # bytes of a reply's cursor document that key it: its size, then its first row's _id


@dataclass(frozen=True, slots=True)
class Stored:
    """What a search page needs of one stored document: its resource as JSON, its ``_id`` and its sort keys."""

    json: bytes
    url: bytes  # "/{rt}/{id}" as a JSON string's inside (fhir_rest/bundles.py splices it after the base URL)
    rt: str
    id: str
    doc_id: str
    sort_keys: dict[str, Any]  # _sys.s, for the page's cursors
    size: int  # the stored bytes' and the JSON's, as the bound counts them


class Fragments:
    def __init__(self, codec_options: CodecOptions[Any], max_bytes: int = MAX_BYTES,
                 max_page_bytes: int = MAX_PAGE_BYTES):
        self._codec = codec_options
        self._max = max_bytes
        self._max_pages = max_page_bytes
        # by the bytes of the document's _id element (the encoder writes it first): its last bytes and Stored —
        # hashing a short key and comparing the whole document is much cheaper than hashing the whole document
        self._held: OrderedDict[bytes, tuple[bytes, Stored]] = OrderedDict()
        self._bytes = 0
        self.hits = self.misses = 0
        # the last replies' cursor documents (by their first bytes), and their rows
        self._pages: OrderedDict[bytes, tuple[bytes, list[Stored]]] = OrderedDict()
        self._page_bytes = 0

    def replied(self, reply: RawBSONDocument) -> tuple[list[Stored], int]:
        """``all`` the rows of a raw ``find`` reply's first batch (store/reads.py ``raw_first_batch``), and its
        cursor id. The same page read again is the same cursor document, byte for byte (the same rows in the
        same order, ``ns``, ``id``): a reply whose cursor document is one of the last ones held is that one's rows,
        for one comparison of its bytes instead of a read of each row (~50 µs a page of 50)."""
        raw, key, size = reply.raw, None, 0
        if isinstance(raw, bytes) and raw[4:12] == b"\x03cursor\x00":  # (its first element, as servers send it)
            size = _INT32(raw, 12)[0]
            key = raw[12:12 + PAGE_KEY]
            found = self._pages.get(key)
            if found is not None and len(found[0]) == size and raw.startswith(found[0], 12):
                self._pages.move_to_end(key)
                self.hits += len(found[1])
                return found[1], 0
        data, starts, cursor_id = raw_first_batch(reply)
        rows = self.all(data, starts)
        if key is not None and cursor_id == 0 and self._max_pages > 0:
            self._hold_page(key, bytes(raw[12:12 + size]), rows)
        return rows, cursor_id

    def _hold_page(self, key: bytes, cursor: bytes, rows: list[Stored]) -> None:
        old = self._pages.pop(key, None)
        if old is not None:
            self._page_bytes -= len(old[0])
        self._pages[key] = (cursor, rows)
        self._page_bytes += len(cursor)
        while self._page_bytes > self._max_pages:
            self._page_bytes -= len(self._pages.popitem(last=False)[1][0])

    def of(self, raw: bytes | memoryview) -> Stored:
        """The ``Stored`` of a stored document's (projected) BSON bytes."""
        return self.all(raw if isinstance(raw, bytes) else raw.tobytes(), [0])[0]

    def all(self, data: bytes, starts: Iterable[int]) -> list[Stored]:
        """``of`` each document of a batch (a page's rows): ``data`` holds them, each starting at one of ``starts``
        (store/reads.py ``raw_first_batch``); in one loop, a hit compared where it lies (no copy of the row)."""
        held = self._held
        get, to_end = held.get, held.move_to_end
        out: list[Stored] = []
        hits = 0
        i32, starts_with = _INT32, data.startswith
        for at in starts:
            size = i32(data, at)[0]
            # the key: the bytes of the row's first element when it is a string _id (as the store writes them),
            # else the whole row's (a key all the same, only dearer to hash)
            end = id_end(data, at, size)
            key = data[at + 4:end] if end else data[at:at + size]
            found = get(key)
            if found is not None and len(found[0]) == size and starts_with(found[0], at):
                to_end(key)
                hits += 1
                out.append(found[1])
            else:
                out.append(self._decoded(data[at:at + size], key, found))
        self.hits += hits
        return out

    def _decoded(self, data: bytes, key: bytes, found: tuple[bytes, Stored] | None) -> Stored:
        self.misses += 1
        doc = bson.decode(data, self._codec)
        resource = strip(doc)
        json = orjson.dumps(resource)
        rt, rid = str(resource.get("resourceType")), str(resource.get("id"))
        stored = Stored(json, orjson.dumps(f"/{rt}/{rid}")[1:-1], rt, rid, doc["_id"],
                        dict((doc.get("_sys") or {}).get("s") or {}), len(data) + len(json))
        if found is not None:  # another version of it: this one replaces it
            del self._held[key]
            self._bytes -= found[1].size
        if stored.size <= MAX_DOCUMENT:
            self._held[key] = (data, stored)
            self._bytes += stored.size
            while self._bytes > self._max:
                self._bytes -= self._held.popitem(last=False)[1][1].size
        return stored


_INT32 = struct.Struct("<i").unpack_from
