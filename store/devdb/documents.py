"""How devdb holds a collection's documents: each one as its BSON bytes, decoded only when a query needs its fields.

A document is kept as the bytes it was stored as (an insert's, straight from the wire) in ``Documents.raw``, by
store key. A read that needs no field of it — a find by ``_id``, or any result once its filter has been decided —
goes back out as those bytes (with an exclusion projection's fields cut out of them: store/devdb/rawbson.py);
whatever needs the fields (a filter the indexes do not settle, a sort, an update, mongomock) decodes a copy of
its own. So what devdb holds is one bytes object per document — about a fifth of the same document as Python
dicts and lists, and nothing the garbage collector has to walk — and every reader gets a copy it may change.

``Documents`` is the mapping mongomock sees as a collection's ``_documents``: reading it decodes, assigning it
encodes. It also records, for the indexes (store/devdb/index.py), the version each changed key held when they
last looked (``changes``), so that they can take out what it had put in.

``ServerStore`` gives mongomock's client these stores (``mongomock.MongoClient(_store=ServerStore())``).
"""

# mongomock has no type annotations; everything else here is checked strictly.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import bson
from mongomock import store as mm_store

from store.devdb.codec import CODEC, Doc


def decode(raw: bytes) -> Doc:
    return bson.decode(raw, CODEC)


def encode(doc: Doc) -> bytes:
    return bson.encode(doc, codec_options=CODEC)


class Documents(MutableMapping[Any, Doc]):
    """One collection's documents by store key, held as BSON bytes (``raw``); each read decodes a fresh copy."""

    def __init__(self) -> None:
        self.raw: dict[Any, bytes] = {}
        # Set by the collection's indexes: store key -> the bytes it held when they last looked (None: absent).
        self.changes: dict[Any, bytes | None] | None = None

    def put(self, key: Any, raw: bytes) -> None:
        changes = self.changes
        if changes is not None and key not in changes:
            changes[key] = self.raw.get(key)
        self.raw[key] = raw

    def __getitem__(self, key: Any) -> Doc:
        return decode(self.raw[key])

    def get(self, key: Any, default: Any = None) -> Any:
        raw = self.raw.get(key)
        return default if raw is None else decode(raw)

    def __setitem__(self, key: Any, doc: Doc) -> None:
        self.put(key, encode(doc))

    def __delitem__(self, key: Any) -> None:
        old = self.raw.pop(key)
        changes = self.changes
        if changes is not None and key not in changes:
            changes[key] = old

    def __contains__(self, key: object) -> bool:
        return key in self.raw

    def __iter__(self) -> Iterator[Any]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


class CollectionStore(mm_store.CollectionStore):
    def __init__(self, name: str):
        super().__init__(name)
        self._documents = Documents()  # type: ignore[assignment]

    def drop(self) -> None:
        super().drop()
        self._documents = Documents()  # type: ignore[assignment]


class DatabaseStore(mm_store.DatabaseStore):
    def __getitem__(self, name: str) -> CollectionStore:
        col = self._collections.get(name)
        if col is None:
            col = self._collections[name] = CollectionStore(name)
        return col

    def rename(self, name: str, new_name: str) -> None:
        raise NotImplementedError("renameCollection")


class ServerStore(mm_store.ServerStore):
    def __getitem__(self, name: str) -> DatabaseStore:
        db = self._databases.get(name)
        if db is None:
            db = self._databases[name] = DatabaseStore()
        return db
