"""Client lifecycle: one ``AsyncMongoClient`` per process, opened in the app's lifespan.

When ``MONGODB_URI`` is unset the embedded devdb (the package store/devdb/, ``DevDB`` in store/devdb/server.py)
is started on a free loopback port and the same driver talks to it over the wire — trials and tests only.

Deadlines are the driver's own. The client waits at most ``timeout_s`` to find a server and to open a
connection (``serverSelectionTimeoutMS``, ``connectTimeoutMS``; a short connect timeout also makes the monitor
notice a frozen server within a heartbeat, and interrupt what waits on it). A request bounds all of its
operations together with ``deadline()`` (the composition root does). No ``socketTimeoutMS`` nor client-wide
``timeoutMS`` by default: work outside a request (index builds at start, the relay's change stream, demo loads)
may rightly wait longer than a request would. Options the URI sets itself always win.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from pymongo import AsyncMongoClient
from pymongo.errors import AutoReconnect, OperationFailure, PyMongoError

from store.driver import deadline as deadline  # re-exported: the doors set the request's deadline
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


def client_options(uri: str, timeout_s: float) -> dict[str, Any]:
    """The keyword options of the client: our defaults for what the URI leaves unset (a keyword option would
    override the URI's own value)."""
    wanted: dict[str, Any] = {"serverSelectionTimeoutMS": round(timeout_s * 1000),
                              "connectTimeoutMS": round(timeout_s * 1000), "appname": "fhirgraph"}
    given = _uri_option_names(uri)
    return {name: value for name, value in wanted.items() if name.lower() not in given}


def _uri_option_names(uri: str) -> set[str]:
    """The option names of a MongoDB URI, lower-cased (option names are case-insensitive; a user name or password
    cannot hold a raw '?', RFC 3986 percent-encodes it)."""
    query = uri.partition("?")[2]
    return {name.lower() for name, _ in parse_qsl(query.replace(";", "&"), keep_blank_values=True)}


async def open_store(uri: str | None, db_name: str, *, create_indexes: bool = True,
                     timeout_s: float = 5.0, password: str | None = None,
                     data_dir: str | None = None) -> StoreHandle:
    """``password``: the URI user's, when it is kept out of the URI (a secret file, app/settings.py).
    ``data_dir``: where the embedded devdb keeps its data when ``uri`` is unset (None: in memory)."""
    devdb = None
    if not uri:
        from store.devdb import DevDB  # imported lazily: never on a production path

        devdb = DevDB(data_dir=data_dir)
        devdb.start_in_thread()
        uri = devdb.uri
        log.warning("MONGODB_URI is unset: using the embedded devdb at %s — an engine for trials and tests, "
                    "not for production; %s", uri, devdb.where())
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        uri, event_listeners=[COUNTER], tz_aware=True,
        **client_options(uri, timeout_s) | ({"password": password} if password else {}))
    try:
        with deadline(timeout_s):
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


BUILD_INDEXES_S = 1800.0  # a clinic of 10,000 patients builds in about a minute on a laptop


async def build_indexes_now(handle: StoreHandle) -> None:
    """After a bulk load: on the embedded devdb, build every index of the store's database now, before anyone
    queries (store/devdb/admin.py ``build_indexes``); MongoDB keeps its indexes as it writes: nothing to do."""
    db = handle.repo.db
    until = time.monotonic() + BUILD_INDEXES_S
    while True:
        try:
            with deadline(max(1.0, until - time.monotonic())):
                reply = await db.command("fhirgraphBuildIndexes", 1)
            break
        except OperationFailure as exc:
            if exc.code == 59:  # CommandNotFound: a real MongoDB
                return
            raise Unavailable(f"Cannot build the indexes: {type(exc).__name__}") from exc
        except AutoReconnect as exc:
            # devdb answers nothing else while it builds, the driver's heartbeat included: on a busy machine the
            # driver gives the server up and cancels the command's connection mid-build (_OperationCancelled).
            # What was built stays built; asking again finishes the rest.
            if time.monotonic() >= until:
                raise Unavailable(f"Cannot build the indexes: {type(exc).__name__}") from exc
            log.info("devdb: the index build was interrupted (%s); asking again", type(exc).__name__)
        except PyMongoError as exc:
            raise Unavailable(f"Cannot build the indexes: {type(exc).__name__}") from exc
    log.info("devdb: the indexes of %s collections built in %s s", reply.get("collections"), reply.get("seconds"))
