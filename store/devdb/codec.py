"""What every devdb module shares: the document type and the BSON options documents cross the wire with."""

from __future__ import annotations

from typing import Any

from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions

Doc = dict[str, Any]

# The engine keeps values as BSON gave them, so they go back out unchanged: datetimes naive UTC (mongomock
# stores them so and compares with Python operators, which fail between aware and naive values) and UUIDs as
# Binary subtype 4 (mongomock re-encodes documents with default options, which refuse uuid.UUID). Clients
# decode replies with their own options (tz_aware, uuidRepresentation="standard").
CODEC: CodecOptions[Doc] = CodecOptions(tz_aware=False, uuid_representation=UuidRepresentation.UNSPECIFIED)

MAX_BSON_SIZE = 16 * 1024 * 1024
