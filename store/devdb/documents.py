"""How devdb holds a collection's documents: each one as its BSON bytes, decoded only when a query needs its fields.

A document is kept as the bytes it was stored as (an insert's, straight from the wire), by store key; one whose
elements after its ``_id`` are those of a document stored just before (a resource's history version) shares
them (``Bodies``). A read that needs no field of it — a find by ``_id``, or any result once its filter has been
decided — goes back out as those bytes (with an exclusion projection's fields cut out of them:
store/devdb/rawbson.py); whatever needs the fields (a filter the indexes do not settle, a sort, an update,
mongomock) decodes a copy of its own. So what devdb holds is one bytes object per document — about a fifth of the
same document as Python dicts and lists, and nothing the garbage collector has to walk — and every reader gets a
copy it may change.

``Documents`` is the mapping mongomock sees as a collection's ``_documents``: reading it decodes, assigning it
encodes. It also records, for the indexes (store/devdb/index.py), what each changed key held when they last
looked (``changes``), so that they can take out what that version had put in.

``ServerStore`` gives mongomock's client these stores (``mongomock.MongoClient(_store=ServerStore())``).
"""

# mongomock has no type annotations; everything else here is checked strictly.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from typing import Any

import bson
from mongomock import store as mm_store

from store.devdb import rawbson
from store.devdb.codec import CODEC, Doc


def decode(raw: bytes) -> Doc:
    return bson.decode(raw, CODEC)


def encode(doc: Doc) -> bytes:
    return bson.encode(doc, codec_options=CODEC)


class Shared:
    """A stored document whose elements after its ``_id`` are another stored document's: its own first bytes
    (size and ``_id``) and where the rest is in the other's bytes."""

    __slots__ = ("at", "head", "source")

    def __init__(self, head: bytes, source: bytes, at: int):
        self.head, self.source, self.at = head, source, at

    def whole(self) -> bytes:
        return self.head + memoryview(self.source)[self.at:]


Held = bytes | Shared


def full(held: Held) -> bytes:
    return held if isinstance(held, bytes) else held.whole()


class Bodies:
    """The bodies (every element after the ``_id``) of the documents stored last, engine-wide: a document stored
    with the same body as one of them shares its bytes. The store writes each version of a resource twice, as
    the current document and under its version's ``_id`` in the history, one right after the other (in bulk
    loads, one batch after the other): the second costs its ``_id``."""

    MIN_BYTES = 256  # smaller bodies are kept as they are: sharing costs about a hundred bytes

    def __init__(self, size: int = 4096):
        self.size = size
        # Oldest first: ``popitem(last=False)`` is O(1), where deleting a dict's first key again and again makes
        # every ``next(iter(...))`` walk the holes the earlier ones left (a fifth of devdb's CPU under audit inserts).
        self._recent: OrderedDict[memoryview, tuple[bytes, int]] = OrderedDict()

    def share(self, raw: bytes) -> Held:
        at = rawbson.first_element_end(raw)
        if len(raw) - at < self.MIN_BYTES:
            return raw
        body = memoryview(raw)[at:]
        found = self._recent.get(body)
        if found is not None:
            return Shared(raw[:at], *found)
        recent = self._recent
        recent[body] = (raw, at)
        if len(recent) > self.size:
            recent.popitem(last=False)
        return raw


class Documents(MutableMapping[Any, Doc]):
    """One collection's documents by store key, held as BSON bytes; each read decodes a fresh copy."""

    def __init__(self, bodies: Bodies | None = None) -> None:
        self.held: dict[Any, Held] = {}
        self.bodies = bodies
        # Set by the collection's indexes: store key -> what it held when they last looked (None: absent).
        self.changes: dict[Any, Held | None] | None = None

    def put(self, key: Any, raw: bytes) -> None:
        """Store the document with BSON ``raw`` (its ``_id`` first) under ``key``."""
        changes = self.changes
        if changes is not None and key not in changes:
            changes[key] = self.held.get(key)
        self.held[key] = raw if self.bodies is None else self.bodies.share(raw)

    def raw(self, key: Any) -> bytes | None:
        """The BSON bytes of the document under ``key`` (None: there is none)."""
        held = self.held.get(key)
        return held if held is None or isinstance(held, bytes) else held.whole()

    def raws(self) -> list[bytes]:
        """The BSON bytes of every document, in stored order."""
        return [full(held) for held in self.held.values()]

    def __getitem__(self, key: Any) -> Doc:
        return decode(full(self.held[key]))

    def get(self, key: Any, default: Any = None) -> Any:
        raw = self.raw(key)
        return default if raw is None else decode(raw)

    def __setitem__(self, key: Any, doc: Doc) -> None:
        self.put(key, encode(doc))

    def __delitem__(self, key: Any) -> None:
        old = self.held.pop(key)
        changes = self.changes
        if changes is not None and key not in changes:
            changes[key] = old

    def __contains__(self, key: object) -> bool:
        return key in self.held

    def __iter__(self) -> Iterator[Any]:
        return iter(self.held)

    def __len__(self) -> int:
        return len(self.held)


class CollectionStore(mm_store.CollectionStore):
    def __init__(self, name: str, bodies: Bodies | None):
        super().__init__(name)
        self.bodies = bodies
        self._documents = Documents(bodies)  # type: ignore[assignment]

    def share(self, bodies: Bodies) -> None:
        """Share bodies with the other collections that do (its ``_history`` sibling has come to exist)."""
        self.bodies = bodies
        documents: Documents = self._documents  # type: ignore[assignment]
        documents.bodies = bodies

    def drop(self) -> None:
        super().drop()
        self._documents = Documents(self.bodies)  # type: ignore[assignment]


HISTORY = "_history"


class DatabaseStore(mm_store.DatabaseStore):
    """Only a collection and its ``<name>_history`` sibling share bodies (``Bodies``): they are what the store
    writes twice. Any other collection — the append-only ones (AuditEvent: a document per audited access),
    the store's own — would only hash every insert and push the pairs' bodies out of the recent ones."""

    def __init__(self, bodies: Bodies):
        super().__init__()
        self.bodies = bodies

    def __getitem__(self, name: str) -> CollectionStore:
        col = self._collections.get(name)
        if col is None:
            paired = name.endswith(HISTORY) or name + HISTORY in self._collections
            col = self._collections[name] = CollectionStore(name, self.bodies if paired else None)
            base = self._collections.get(name.removesuffix(HISTORY)) if name.endswith(HISTORY) else None
            if isinstance(base, CollectionStore) and base.bodies is None:
                base.share(self.bodies)
        return col

    def rename(self, name: str, new_name: str) -> None:
        raise NotImplementedError("renameCollection")


class ServerStore(mm_store.ServerStore):
    def __init__(self) -> None:
        super().__init__()
        self.bodies = Bodies()

    def __getitem__(self, name: str) -> DatabaseStore:
        db = self._databases.get(name)
        if db is None:
            db = self._databases[name] = DatabaseStore(self.bodies)
        return db
