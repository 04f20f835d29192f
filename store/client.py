"""Client lifecycle: one ``AsyncMongoClient`` per process, opened in the app's lifespan.

When ``MONGODB_URI`` is unset the embedded devdb (store/devdb.py) is started on a free loopback port and
the same driver talks to it over the wire — trials and tests only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from store.errors import Unavailable
from store.indexes import ensure_indexes
from store.metrics import COUNTER
from store.repository import Repository

log = logging.getLogger("fhirgraph.store")


@dataclass
class StoreHandle:
    client: AsyncMongoClient[Any]
    repo: Repository
    replica_set: bool
    devdb: Any = None

    async def close(self) -> None:
        await self.client.close()
        if self.devdb is not None:
            self.devdb.stop()


async def open_store(uri: str | None, db_name: str, *, create_indexes: bool = True) -> StoreHandle:
    devdb = None
    if not uri:
        from store.devdb import DevDB  # imported lazily: never on a production path

        devdb = DevDB()
        devdb.start_in_thread()
        uri = devdb.uri
        log.warning("MONGODB_URI is unset: using the embedded devdb at %s — an in-memory engine for trials "
                    "and tests, not for production; data is lost at exit", uri)
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        uri, event_listeners=[COUNTER], tz_aware=True, serverSelectionTimeoutMS=10_000, appname="fhirgraph")
    try:
        hello = await client.admin.command("hello")
    except PyMongoError as exc:
        await client.close()
        if devdb is not None:
            devdb.stop()
        raise Unavailable(f"Cannot reach MongoDB: {type(exc).__name__}") from exc
    replica_set = bool(hello.get("setName"))
    repo = Repository(client[db_name], transactions=replica_set)
    if create_indexes:
        await ensure_indexes(client[db_name])
    log.info("store ready (db=%s, replica set=%s, transactions=%s)", db_name, replica_set, replica_set)
    return StoreHandle(client=client, repo=repo, replica_set=replica_set, devdb=devdb)
