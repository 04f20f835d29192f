"""The FHIR JSON of stored documents, remembered by their bytes: a search page spliced into its Bundle without
decoding each document to Python and encoding it again.

A page of 50 Patients is ~240 KB of BSON; decoding it to dicts and dumping them back as JSON was most of the app's
CPU per search page (bench/README.md, "The search page of 50"). The JSON of a stored document is a function of its
bytes alone — the same bytes always give the same resource (``_sys`` carries the version and the instant of every
change, so a changed resource is other bytes) — so it is kept under those bytes: a page whose documents were
encoded before costs a hash and a comparison of each document's bytes. Nothing here can be stale: the database is
asked every time, and only what it answers is looked up. The store's codec options (``tz_aware``) are one per
process, so one cache per process is one function.

Bounded by bytes (the documents' and their JSON's, ``MAX_BYTES``), least recently used out first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import bson
import orjson
from bson.codec_options import CodecOptions

from store.layout import strip

MAX_BYTES = 64 * 1024 * 1024  # e.g. ~7,000 demo Patients (~4.7 KB stored + ~3.9 KB of JSON each)
MAX_DOCUMENT = 1024 * 1024  # larger ones are encoded each time: few, and they would push out many


@dataclass(frozen=True, slots=True)
class Stored:
    """What a search page needs of one stored document: its resource as JSON, its ``_id`` and its sort keys."""

    json: orjson.Fragment
    rt: str
    id: str
    doc_id: str
    sort_keys: dict[str, Any]  # _sys.s, for the page's cursors
    size: int  # the stored bytes' and the JSON's, as the bound counts them


class Fragments:
    def __init__(self, codec_options: CodecOptions[Any], max_bytes: int = MAX_BYTES):
        self._codec = codec_options
        self._max = max_bytes
        self._held: OrderedDict[bytes, Stored] = OrderedDict()
        self._bytes = 0
        self.hits = self.misses = 0

    def of(self, raw: bytes) -> Stored:
        """The ``Stored`` of a stored document's (projected) BSON bytes."""
        found = self._held.get(raw)
        if found is not None:
            self._held.move_to_end(raw)
            self.hits += 1
            return found
        self.misses += 1
        doc = bson.decode(raw, self._codec)
        resource = strip(doc)
        json = orjson.dumps(resource)
        stored = Stored(orjson.Fragment(json), str(resource.get("resourceType")), str(resource.get("id")),
                        doc["_id"], dict((doc.get("_sys") or {}).get("s") or {}), len(raw) + len(json))
        if stored.size <= MAX_DOCUMENT:
            self._held[raw] = stored
            self._bytes += stored.size
            while self._bytes > self._max:
                self._bytes -= self._held.popitem(last=False)[1].size
        return stored
