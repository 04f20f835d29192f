"""The SDL snapshot: an accidental API change fails here. After a deliberate change, regenerate with
``FHIRGRAPH_UPDATE_SNAPSHOT=1 python -m pytest tests/graph/test_schema.py`` and review the diff."""

from __future__ import annotations

import os
from pathlib import Path

from graph.schema import build_schema

SNAPSHOT = Path(__file__).with_name("schema.graphql")


def test_sdl_matches_snapshot() -> None:
    sdl = build_schema().as_str().strip() + "\n"
    if os.environ.get("FHIRGRAPH_UPDATE_SNAPSHOT") or not SNAPSHOT.exists():
        SNAPSHOT.write_text(sdl)
    assert sdl == SNAPSHOT.read_text(), "the GraphQL schema changed: review it and update the snapshot"


def test_entities_and_relay_shapes() -> None:
    sdl = build_schema().as_str()
    assert "type PatientConnection {" in sdl and "type PageInfo {" in sdl
    assert "totalCount: Int" in sdl
    assert 'type Episode @key(fields: "id")' in sdl
