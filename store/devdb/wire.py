"""The MongoDB wire protocol's framing: OP_MSG requests and replies, and the legacy OP_QUERY handshake.

https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/
"""

from __future__ import annotations

import struct
from typing import Any, cast

import bson
from bson.raw_bson import RawBSONDocument

from store.devdb.codec import CODEC, Doc

OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
HEADER = struct.Struct("<iiii")  # messageLength, requestID, responseTo, opCode
CHECKSUM_PRESENT, MORE_TO_COME = 1 << 0, 1 << 1
MAX_MESSAGE_SIZE = 48_000_000
RAW = CODEC.with_options(document_class=RawBSONDocument)


def parse_op_msg(payload: bytes) -> tuple[int, Doc]:
    """(flagBits, command): the kind-0 body, each kind-1 document sequence merged in under its identifier."""
    (flags,) = struct.unpack_from("<I", payload)
    end = len(payload) - (4 if flags & CHECKSUM_PRESENT else 0)
    pos, body, sequences = 4, None, cast(dict[str, list[Any]], {})
    while pos < end:
        kind = payload[pos]
        (size,) = struct.unpack_from("<i", payload, pos + 1)
        if kind == 0:
            body = bson.decode(payload[pos + 1 : pos + 1 + size], CODEC)
        elif kind == 1:
            name_end = payload.index(b"\x00", pos + 5)
            name = payload[pos + 5 : name_end].decode()
            docs: list[Any]
            if name == "documents":  # an insert's: stored as they came (store/devdb/documents.py)
                docs = raw_documents(payload, name_end + 1, pos + 1 + size)
            else:
                docs = bson.decode_all(payload[name_end + 1 : pos + 1 + size], CODEC)
            sequences.setdefault(name, []).extend(docs)
        else:
            raise ValueError(f"unknown OP_MSG section kind {kind}")
        pos += 1 + size
    if body is None:
        raise ValueError("OP_MSG without a body section")
    return flags, body | sequences


def raw_documents(data: bytes, start: int, end: int) -> list[RawBSONDocument]:
    """The BSON documents one after the other in ``data[start:end]``, each as bytes of its own."""
    docs = []
    while start < end:
        (size,) = struct.unpack_from("<i", data, start)
        if size < 5 or start + size > end:
            raise ValueError("malformed document sequence")
        docs.append(RawBSONDocument(data[start : start + size], RAW))
        start += size
    return docs


def parse_op_query(payload: bytes) -> tuple[str, Doc]:
    """(namespace, query) of a legacy OP_QUERY; drivers send only their first handshake this way."""
    name_end = payload.index(b"\x00", 4)
    start = name_end + 9  # skip numberToSkip, numberToReturn
    (size,) = struct.unpack_from("<i", payload, start)
    query = bson.decode(payload[start : start + size], CODEC)
    return payload[4:name_end].decode(), query.get("$query", query)


def op_msg(request_id: int, response_to: int, doc: Doc) -> bytes:
    body = bson.encode(doc, codec_options=CODEC)  # after flagBits 0 and the kind byte of its one section
    return b"".join((HEADER.pack(21 + len(body), request_id, response_to, OP_MSG), b"\x00\x00\x00\x00\x00", body))


def op_msg_parts(request_id: int, response_to: int, doc: Doc) -> list[bytes]:
    """``op_msg`` as the pieces a vectored write sends one after the other. A find's reply (``{cursor, ok}``, its
    cursor document already bytes: store/devdb/cursor.py) is framed around those bytes, not copied into a new
    document and then into the message (a search page's reply is ~240 KB)."""
    cursor, ok = doc.get("cursor"), doc.get("ok")
    if len(doc) != 2 or type(cursor) is not RawBSONDocument or type(ok) is not float or list(doc) != ["cursor", "ok"]:
        return [op_msg(request_id, response_to, doc)]
    raw = cursor.raw
    if not isinstance(raw, bytes):
        return [op_msg(request_id, response_to, doc)]
    size = 4 + len(_CURSOR) + len(raw) + len(_OK) + 8 + 1
    head = b"".join((HEADER.pack(21 + size, request_id, response_to, OP_MSG), b"\x00\x00\x00\x00\x00",
                     _INT32.pack(size), _CURSOR))
    return [head, raw, _OK + _DOUBLE.pack(ok) + b"\x00"]


_CURSOR, _OK = b"\x03cursor\x00", b"\x01ok\x00"
_INT32, _DOUBLE = struct.Struct("<i"), struct.Struct("<d")


def op_reply(request_id: int, response_to: int, doc: Doc) -> bytes:
    body = struct.pack("<iqii", 0, 0, 0, 1) + bson.encode(doc, codec_options=CODEC)
    return HEADER.pack(16 + len(body), request_id, response_to, OP_REPLY) + body
