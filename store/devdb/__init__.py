"""fhirgraph devdb: a MongoDB-wire-protocol server over mongomock, for trials and tests only.

No MongoDB server can be installed on our development and CI machines (shared/DESIGN.md, decision 3), yet
the store always talks through the real PyMongo driver. devdb speaks enough of the wire protocol (OP_MSG, plus
the legacy OP_QUERY handshake) for ``pymongo.AsyncMongoClient`` and ``MongoClient`` to see a standalone
MongoDB 6.0 server, and runs the commands against one in-memory ``mongomock`` client::

    devdb = DevDB(); devdb.start_in_thread(); AsyncMongoClient(devdb.uri)  # tests, `fhirgraph serve`
    main_devdb("127.0.0.1", 27018)                                         # `fhirgraph devdb --port 27018`
    DevDB(data_dir="D")  # `--data-dir D`: kept across restarts (journal: a write-ahead log and snapshots)

Every command runs to completion on the server's one event-loop thread, under one lock: mongomock is not
thread-safe, and it makes each command atomic for every connected process, so findAndModify and conditional
updates such as ``{_id: x, "_sys.v": 3}`` (the store's optimistic locking) succeed exactly once.

Modules, from the socket inwards: ``server`` (DevDB, main_devdb) -> ``wire`` (framing) -> ``engine`` (the
command table, the lock) -> ``reads`` / ``writes`` / ``admin`` (the commands) over ``context`` (the mongomock
client, the ``cursor``s) and ``collection`` (mongomock's Collection with the fast paths of ``query``,
``planner``/``index`` and ``unique`` hooked in) over ``documents`` (each document held as its BSON bytes, cut
as bytes by ``rawbson``); ``errors`` holds MongoDB's error shapes, ``codec`` what all of them share;
``journal`` (with ``wal``, ``replayable``, ``snapshot``) keeps the data in a directory when asked to.

Documents are held compactly: as the BSON bytes an insert carried (store/devdb/documents.py), decoded only when a
query needs their fields (a filter the indexes do not settle, a sort, an update); a find returns the stored
bytes, less what an exclusion projection leaves out, without decoding them; index entries are packed bytes and
the document's key (store/devdb/index.py).

Fast paths over mongomock, which otherwise scans the whole collection for every query:
- a filter pinning ``_id`` (equality, ``$eq``, ``$in``, also inside ``$and``) fetches by key, in O(1);
- every other query reads candidates from in-memory indexes built from the collection's createIndexes (and
  ``_id``), kept by every write: equality, ``$in``, ranges, prefixes, compound prefixes; a limited query sorted
  in an index's order (the store's keyset pages) walks it and stops at the limit (store/devdb/query.py lists
  each shape the store sends and how it is answered; ``explain`` tells);
- a find's plan is remembered, keyed by the query's BSON, until the collection's indexes next change (any write
  to it, an index created or dropped): a search page asked again is not planned again (store/devdb/query.py);
- unique indexes keep a hash of their keys, so inserts and updates check uniqueness without a scan;
- TTL indexes are swept at most once a second (MongoDB: every 60 s) instead of on every access.

What devdb does not do:
- transactions (it is a standalone: txnNumber, commitTransaction, abortTransaction fail with code 20),
  change streams, tailable cursors, authentication, compression, create options (validators, capped:
  ignored), renameCollection;
- collation: find, update, delete and findAndModify fail with code 238, but aggregate (so count_documents),
  count and distinct ignore it; a find's min, max and hint are ignored too;
- index options: sparse and partial ones do not change what an index holds (it only narrows; the full filter
  decides), hint is ignored, and a filter no index leads with scans the collection;
- sort on an array path uses the array's first element (mongomock), not its min/max as MongoDB does;
- what mongomock lacks ($lookup with let/pipeline, $merge, arrayFilters, ...) fails with code 238;
- a cursor's results are fixed when the query runs: later batches return the documents as they were then;
- $currentDate keeps microseconds in memory (mongomock) while replies carry milliseconds, so the value read
  back does not match itself in a filter (with a data dir it is resolved to milliseconds before it runs);
- durability, unless given a data dir: data lives in memory and is lost when the process exits. With one
  (``journal``: ``wal`` framing, ``replayable`` commands, ``snapshot``), every write is synced before its reply
  and replayed at start-up; a snapshot holds the lock only while it captures references to the stored bytes
  (milliseconds), and is encoded and written in the background while the store serves.
"""

from __future__ import annotations

from store.devdb.server import DevDB, main_devdb

__all__ = ["DevDB", "main_devdb"]
