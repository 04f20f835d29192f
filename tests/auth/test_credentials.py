"""The one credential parser: the same names in HTTP headers and in graphql-transport-ws connection_init."""

from __future__ import annotations

import pytest

from auth import credentials
from store.errors import Unauthorized


@pytest.mark.parametrize(("headers", "found"), [
    ([(b"x-api-key", b"k1")], "k1"),
    ([(b"api-key", b"k2")], "k2"),
    ([(b"authorization", b"Bearer t3")], "t3"),
    ([(b"authorization", b"bearer   t4  ")], "t4"),
    ([(b"authorization", b"Basic dXNlcjpwYXNz")], None),
    ([(b"x-api-key", b"k1"), (b"authorization", b"Bearer t")], "k1"),
    ([(b"cookie", b"x-api-key=k")], None),
    ([], None),
])
def test_headers(headers: list[tuple[bytes, bytes]], found: str | None) -> None:
    assert credentials.from_headers(headers) == found


@pytest.mark.parametrize(("params", "found"), [
    ({"apiKey": "k1"}, "k1"),
    ({"X-API-Key": "k2"}, "k2"),
    ({"Authorization": "Bearer t3"}, "t3"),
    ({"headers": {"authorization": "Bearer t4"}}, "t4"),
    ({"headers": {"x-api-key": "nested"}, "apiKey": "top"}, "top"),
    ({}, None),
    (None, None),
])
def test_connection_params(params: object, found: str | None) -> None:
    assert credentials.from_connection_params(params) == found


@pytest.mark.parametrize("params", [["apiKey", "k"], "k", {"apiKey": 42}, {"Authorization": ["Bearer t"]}])
def test_malformed_connection_params_are_unauthorized(params: object) -> None:
    with pytest.raises(Unauthorized):
        credentials.from_connection_params(params)
