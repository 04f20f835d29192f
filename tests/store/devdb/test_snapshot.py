"""devdb's snapshot records: what a snapshot captures under the lock, and the insert records it writes outside it."""

from __future__ import annotations

import bson
from bson.raw_bson import RawBSONDocument

from store.devdb import snapshot
from store.devdb.codec import CODEC
from store.devdb.documents import Bodies, Held, full
from store.devdb.engine import Engine


def test_insert_records_joined_by_hand_are_the_bytes_bson_encodes() -> None:
    bodies = Bodies()
    body = {"name": "ünïcode", "when": bson.datetime.datetime(2026, 11, 2), "pad": "x" * 300}
    held: list[Held] = [bodies.share(bson.encode({"_id": i, **body}, codec_options=CODEC)) for i in range(12)]
    assert any(not isinstance(h, bytes) for h in held)  # documents sharing another's bytes are among them
    by_hand = snapshot._insert_record("clinic", "pätients", held)
    assert by_hand == snapshot._record("clinic", {"insert": "pätients",
                                                  "documents": [RawBSONDocument(full(h)) for h in held]})


def test_a_capture_keeps_the_state_it_saw_while_the_engine_goes_on() -> None:
    engine = Engine()
    engine.run("clinic", {"insert": "patients", "documents": [{"_id": i, "v": 0} for i in range(5)]})
    engine.run("clinic", {"createIndexes": "patients", "indexes": [{"key": {"v": 1}, "name": "v"}]})
    views: list[snapshot.View] = []
    engine.locked(lambda ctx: views.append(snapshot.capture(ctx)))
    engine.run("clinic", {"update": "patients", "updates": [{"q": {}, "u": {"$set": {"v": 1}}, "multi": True}]})
    engine.run("clinic", {"delete": "patients", "deletes": [{"q": {"_id": 0}, "limit": 1}]})
    engine.run("clinic", {"drop": "patients"})
    (captured,) = views[0].collections
    assert (captured.db, captured.name, [i["name"] for i in captured.indexes]) == ("clinic", "patients", ["v"])
    assert [bson.decode(full(h)) for h in captured.held] == [{"_id": i, "v": 0} for i in range(5)]
