"""What a command runs against: the one mongomock client (over devdb's document stores), the open cursors, and
who is asking."""

# mongomock has no type annotations; everything else here is checked strictly.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import mongomock

from store.devdb.codec import Doc
from store.devdb.collection import Collection, fast_collection
from store.devdb.cursor import Cursors
from store.devdb.documents import ServerStore
from store.devdb.errors import CommandError


class Context:
    def __init__(self) -> None:
        self.client: Any = mongomock.MongoClient(_store=ServerStore())  # documents as BSON bytes
        self.cursors = Cursors()
        self.started = time.monotonic()
        self.conn_id = 0  # the connection of the command being run
        self.connections = 0  # open now, kept by the server

    def coll(self, db: str, name: Any) -> Collection:
        if not isinstance(name, str) or not name:
            raise CommandError(73, f"Invalid namespace specified '{db}.{name}'")
        return fast_collection(self.client.get_database(db), name)

    def existing(self, db: str, name: Any) -> Collection:
        coll = self.coll(db, name)
        if not coll._store.is_created:
            raise CommandError(26, f"ns does not exist: {coll.full_name}")
        return coll


Command = Callable[[Context, str, Doc], Doc]
