"""Relay connections (DESIGN.md decision 5: keyset cursors only) and the one ``resolve_connection``; beside
them, the classic numbered pages of seed 003's lists (``NumberedPage``: page, pageSize, total).

Two sources feed a connection: a store ``Page`` (each row carries the store's own cursor) and a per-parent list
loaded in one batch by a DataLoader, paged here in memory with cursors that encode the sort key and the id —
still keyset (opaque base64 of ``[key, id]``, strictly typed on decode), never an offset. The GraphQL door
exposes these records as ``PageInfo``, ``<Type>Edge`` and ``<Type>Connection`` (graph/pagination.py).

A list offered both ways is written once, taking a ``Paging`` (``Relay(first, after)`` or ``numbered(ctx, page,
page_size)``) that shapes its sorted rows into a connection or a numbered page (``<Type>Page``): its two
resolvers differ only in their paging arguments. A numbered page of an in-memory list is a slice of the rows
the batch loaded anyway; the patient list's is an offset page of the store (resolvers/patient.py).
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Generic, Protocol, TypeVar

import orjson
import strawberry

from store.errors import Invalid
from store.types import Page

if TYPE_CHECKING:
    from resolvers.context import Scope

T = TypeVar("T")
Item = TypeVar("Item")
Out = TypeVar("Out", covariant=True)

DEFAULT_PAGE = 20
MAX_PAGE = 100

# The paging arguments of every connection field (Relay), described once for all of them.
_CAP = (f"0 up to the page cap ({MAX_PAGE} unless the server sets another); outside that → VALIDATION, as pageSize "
        "of a numbered page")
First = Annotated[int | None, strawberry.argument(
    description=f"Page forward: at most this many items (default {DEFAULT_PAGE}); {_CAP}.")]
After = Annotated[str | None, strawberry.argument(
    description="Page forward: the items after this cursor (pageInfo.endCursor of the previous page).")]
Last = Annotated[int | None, strawberry.argument(
    description=f"Page backward: at most this many items (default {DEFAULT_PAGE}); {_CAP}.")]
Before = Annotated[str | None, strawberry.argument(
    description="Page backward: the items before this cursor (pageInfo.startCursor of the next page).")]
# The arguments of every numbered page field (seed 003's page / page_size).
DEFAULT_PAGE_SIZE = 50
PageNumber = Annotated[int, strawberry.argument(
    description="Page number, from 1 (below 1 → VALIDATION); a page past the last one is empty.")]
PageSize = Annotated[int, strawberry.argument(
    description=f"Items per page (default {DEFAULT_PAGE_SIZE}), 1 up to the page cap (100 unless the server "
                "sets another); outside that → VALIDATION.")]


@dataclass(eq=False, kw_only=True)
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="More items follow this page (page forward with after: endCursor).")
    has_previous_page: bool = strawberry.field(
        description="Items precede this page (page back with before: startCursor).")
    start_cursor: str | None = strawberry.field(description="Cursor of the page's first item; null for an empty page.")
    end_cursor: str | None = strawberry.field(description="Cursor of the page's last item; null for an empty page.")


@dataclass(eq=False, kw_only=True)
class Edge(Generic[T]):
    cursor: str = strawberry.field(
        description="Opaque cursor of this item: pass it as after (or before) to page from here.")
    node: T


@dataclass(eq=False, kw_only=True)
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The page's items, each with its cursor.")
    page_info: PageInfo = strawberry.field(
        description="Where this page sits: whether there are more, and the cursors to get them.")
    total_count: int | None = strawberry.field(
        description="Number of items matching the filters (computed only when selected).")


@dataclass(eq=False, kw_only=True)
class NumberedPage(Generic[T]):
    items: list[T] = strawberry.field(description="The items of this page, in the list's order.")
    page: int = strawberry.field(description="This page's number, from 1.")
    page_size: int = strawberry.field(description="How many items a page holds (the last one may hold fewer).")
    total: int = strawberry.field(description="How many items match the filters, over all pages.")


def page_size(first: int | None, last: int | None, *, default: int = DEFAULT_PAGE, maximum: int = MAX_PAGE) -> int:
    """The page size asked for; one outside 0..``maximum`` is VALIDATION naming the argument (never silently
    capped: a client asking for 1000 must not take 100 rows for all of them), as ``numbered`` does."""
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= maximum:
            raise Invalid(f"{name} must be between 0 and {maximum}", field=name)
    if first is not None and last is not None:
        raise Invalid("Pass either 'first' or 'last', not both")
    size = first if first is not None else last if last is not None else default
    return min(size, maximum)  # the default may exceed a server's lower cap


def encode_cursor(key: Any, rid: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([key, rid])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str | tuple[str, ...], str]:
    """(sort key, id) of an in-memory list's cursor: strings only (a composite key is a list of them)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, rid = orjson.loads(raw)
        if not isinstance(rid, str):
            raise ValueError("id")
        if isinstance(key, list) and all(isinstance(k, str) for k in key):
            return tuple(key), rid
        if not isinstance(key, str):
            raise ValueError("key")
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise Invalid("Malformed pagination cursor", field="cursor") from None
    return key, rid


def _ordered(items: Sequence[Item], key: Callable[[Item], Any], rid: Callable[[Item], str],
             descending: bool) -> list[tuple[Any, str, Item]]:
    return sorted(((key(i), rid(i), i) for i in items), key=lambda r: (r[0], r[1]), reverse=descending)


def resolve_connection(
    items: Sequence[Item],
    *,
    key: Callable[[Item], Any],
    rid: Callable[[Item], str],
    node: Callable[[Item], Any],
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    descending: bool = False,
    maximum: int = MAX_PAGE,
    default: int = DEFAULT_PAGE,
) -> Connection[Any]:
    """Keyset-page ``items`` (already loaded for one parent) ordered by ``(key, id)``."""
    size = page_size(first, last, default=default, maximum=maximum)
    rows = _ordered(items, key, rid, descending)
    total = len(rows)
    lo, hi = 0, total
    if after is not None:
        ak = decode_cursor(after)
        lo = next((n for n, r in enumerate(rows) if _beyond((r[0], r[1]), ak, descending)), total)
    if before is not None:
        bk = decode_cursor(before)
        hi = next((n for n, r in enumerate(rows) if (r[0], r[1]) == bk or _beyond((r[0], r[1]), bk, descending)),
                  total)
    window = rows[lo:hi]
    if last is not None:
        chosen = window[max(0, len(window) - size):]
        has_prev, has_next = len(window) > size, hi < total
    else:
        chosen = window[:size]
        has_next, has_prev = len(window) > size, lo > 0
    edges: list[Any] = [LazyEdge(k, i, node(it)) for k, i, it in chosen]
    return Connection(
        edges=edges,
        page_info=LazyPageInfo(has_next, has_prev, edges[0] if edges else None, edges[-1] if edges else None),
        total_count=total,
    )


class Paging(Protocol[Out]):
    """How a list is answered: a Relay connection (``Relay``) or a numbered page (``Numbered``)."""

    def __call__(self, items: Sequence[Item], *, key: Callable[[Item], Any], rid: Callable[[Item], str],
                 node: Callable[[Item], Any], descending: bool = False, default: int = DEFAULT_PAGE,
                 maximum: int = MAX_PAGE) -> Out: ...


@dataclass(frozen=True)
class Relay:
    """Keyset paging by ``first`` / ``after`` (``resolve_connection``)."""

    first: int | None = None
    after: str | None = None

    def __call__(self, items: Sequence[Item], *, key: Callable[[Item], Any], rid: Callable[[Item], str],
                 node: Callable[[Item], Any], descending: bool = False, default: int = DEFAULT_PAGE,
                 maximum: int = MAX_PAGE) -> Connection[Any]:
        return resolve_connection(items, key=key, rid=rid, node=node, first=self.first, after=self.after,
                                  descending=descending, default=default, maximum=maximum)


@dataclass(frozen=True)
class Numbered:
    """Page ``page`` (from 1) of ``page_size`` items, checked by ``numbered``."""

    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    def __call__(self, items: Sequence[Item], *, key: Callable[[Item], Any], rid: Callable[[Item], str],
                 node: Callable[[Item], Any], descending: bool = False, default: int = DEFAULT_PAGE,
                 maximum: int = MAX_PAGE) -> NumberedPage[Any]:
        rows = _ordered(items, key, rid, descending)
        chosen = rows[self.offset:self.offset + self.page_size]
        return NumberedPage(items=[node(it) for _, _, it in chosen], page=self.page, page_size=self.page_size,
                            total=len(rows))


def numbered(ctx: Scope, page: int, page_size: int) -> Numbered:
    """The numbered paging asked for: ``page`` from 1, ``page_size`` from 1 up to the server's page cap, else
    ``Invalid`` naming the argument."""
    if page < 1:
        raise Invalid("page must be 1 or more", field="page")
    cap = ctx.settings.max_page_size
    if not 1 <= page_size <= cap:
        raise Invalid(f"pageSize must be between 1 and {cap}", field="pageSize")
    return Numbered(page, page_size)


class LazyEdge:
    """An ``Edge`` whose cursor is encoded only when read (most queries never select edge cursors)."""

    __slots__ = ("_key", "_rid", "node")

    def __init__(self, key: Any, rid: str, node: Any):
        self._key, self._rid, self.node = key, rid, node

    @property
    def cursor(self) -> str:
        return encode_cursor(list(self._key) if isinstance(self._key, tuple) else self._key, self._rid)


class LazyPageInfo(PageInfo):
    """A ``PageInfo`` whose cursors are its first and last edges', encoded only when read (a chart's ~100 lists
    select none)."""

    def __init__(self, has_next_page: bool, has_previous_page: bool, first: LazyEdge | None,
                 last: LazyEdge | None):  # not the dataclass's: the cursors are read from the edges
        self.has_next_page, self.has_previous_page = has_next_page, has_previous_page
        self._first, self._last = first, last

    @property
    def start_cursor(self) -> str | None:  # type: ignore[override]
        return self._first.cursor if self._first is not None else None

    @property
    def end_cursor(self) -> str | None:  # type: ignore[override]
        return self._last.cursor if self._last is not None else None


def _beyond(row: tuple[Any, str], mark: tuple[Any, str], descending: bool) -> bool:
    """True when ``row`` comes strictly after ``mark`` in the connection's order."""
    try:
        return row < mark if descending else row > mark
    except TypeError:  # a cursor whose key has another shape than this list's keys: a foreign cursor
        raise Invalid("Malformed pagination cursor", field="cursor") from None


async def store_connection(search: Callable[..., Awaitable[Page]], *, sort: str, node: Callable[[Any], Any],
                           first: int | None, after: str | None, last: int | None, before: str | None,
                           default: int = DEFAULT_PAGE, maximum: int = MAX_PAGE) -> Connection[Any]:
    """A connection over one keyset page of the store: ``search(count=, after=, before=, sort=, from_end=)``
    runs it. ``last`` without ``before`` reads the end of the list. Every edge cursor is the store's own cursor
    of its row, so any edge resumes."""
    size = page_size(first, last, default=default, maximum=maximum)
    if last is not None and before is None:
        page = await search(count=size, sort=sort, from_end=True)
        has_next, has_previous = False, page.prev_cursor is not None
    else:
        page = await search(count=size, after=after, before=before, sort=sort)
        if before is not None:
            has_next, has_previous = True, page.prev_cursor is not None
        else:
            has_next, has_previous = page.next_cursor is not None, after is not None
    edges: list[Any] = [Edge(cursor=c, node=node(r)) for r, c in zip(page.resources, page.cursors, strict=True)]
    return Connection(
        edges=edges,
        page_info=PageInfo(has_next_page=has_next, has_previous_page=has_previous,
                           start_cursor=edges[0].cursor if edges else None,
                           end_cursor=edges[-1].cursor if edges else None),
        total_count=page.total,
    )
