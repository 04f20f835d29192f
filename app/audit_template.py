"""The audit writer's stored AuditEvents from templates: most records of a batch differ from another of the same
caller and interaction only in their id, their instant and the ids of what was accessed, so their stored
document (store/audit.py ``Batch.encoded``: BALP shape, search keys, BSON) is built and encoded once per
*template* and then copied with those values written in.

A template is the encoded document of a stand-in access (``_stand_in``: the same caller, interaction, status,
type, action, with sentinel values of the same lengths for the id, the instant's milliseconds-precision text, the
resource id, version and Patient id), encoded twice with two sets of sentinels. Each sentinel's occurrences in
the first are its slots; the template is used only if writing the second set into those slots gives exactly the
second encoding — so a value that is transformed on the way (folded, parsed differently) or a sentinel that
happens to occur elsewhere (in a tenant, a subject) leaves the template unused, and those records take the
general path (``Batch.encoded``). The values written in are FHIR ids (``[A-Za-z0-9-.]{1,64}``, ASCII: one byte
a character, so every BSON length stays right) and the recorder's instants; anything else (a query, GraphQL
types, a description: what is redacted or varies in length) takes the general path too.
tests/app/test_audit_template.py holds the two byte for byte equal over every shape the recorder makes.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from auth.balp import Access, audit_event, instant
from store.audit import Batch

ID = re.compile(r"[A-Za-z0-9\-.]{1,64}\Z")
# The two sentinels of each value (repeated to the value's length), and of the instant: two whose text is 23
# characters up to the milliseconds, as auth/balp.py ``instant`` writes them.
SENTINELS = {"id": ("W", "V"), "rid": ("Q", "Z"), "vid": ("X", "Y"), "patient": ("J", "K")}
AT = ((0.125, "1970-01-01T00:00:00.125"), (315_532_800.5, "1980-01-01T00:00:00.500"))  # exact in binary
INSTANT_CHARS = 23
Slots = tuple[tuple[int, int, str], ...]  # (start, end, value name), in order


class Template(NamedTuple):
    """A template compiled for filling in one C call: its bytes with each slot a ``%b`` (and every ``%`` of the
    rest doubled), the names of the values it takes, and which of them each slot takes, in order. Writing the
    values into the slots one by one (a bytearray's slice assignments) cost 5.5 µs a record; this costs 1.7."""

    format: bytes
    names: tuple[str, ...]
    pick: Callable[[list[bytes]], tuple[bytes, ...]]


def compiled(raw: bytes, slots: Slots) -> Template:
    chunks, at = [], 0
    for start, end, _ in slots:
        chunks.append(raw[at:start].replace(b"%", b"%%"))
        at = end
    chunks.append(raw[at:].replace(b"%", b"%%"))
    names = tuple(sorted({name for _, _, name in slots}))
    order = [names.index(name) for _, _, name in slots]
    # itemgetter of one index returns the item itself, not a 1-tuple: ``%`` needs the tuple
    pick = operator.itemgetter(*order) if len(order) > 1 else (lambda values: (values[order[0]],))
    return Template(b"%b".join(chunks), names, pick)


class Templates:
    """The templates of one batch (they hold its instant and meta), by what their records share."""

    def __init__(self, batch: Batch, observer: str):
        self.batch = batch
        self.observer = observer
        self._found: dict[tuple[Any, ...], Template | None] = {}
        self.used = 0  # records encoded from a template (the rest: the general path)

    def encoded(self, event_id: str, access: Access) -> bytes:
        """``batch.encoded(audit_event(access, observer, event_id))``, from a template when one fits."""
        values = _values(event_id, access)
        if values is not None:
            rid, vid, patient = values["rid"], values["vid"], values["patient"]
            key = (access.principal, access.interaction, access.status, access.rt, access.action,
                   access.patient is not None and access.patient == access.rid, len(event_id),
                   rid and len(rid), vid and len(vid), patient and len(patient), len(values["at"] or ""))
            try:
                found = self._found[key]
            except KeyError:
                found = self._found[key] = self._template(access, values)
            except TypeError:  # a principal that is not hashable
                found = None
            if found is not None:
                self.used += 1
                return _filled(found, values)
        return self.batch.encoded(audit_event(access, self.observer, event_id))

    def _template(self, access: Access, values: dict[str, str | None]) -> Template | None:
        first, second = (self._encode_stand_in(access, values, i) for i in (0, 1))
        slots: list[tuple[int, int, str]] = []
        for name, sentinel in _sentinels(values, 0).items():
            if sentinel is None:
                continue
            raw, at = sentinel.encode(), 0
            while (at := first[0].find(raw, at)) >= 0:
                slots.append((at, at + len(raw), name))
                at += len(raw)
        slots.sort()
        if any(a[1] > b[0] for a, b in zip(slots, slots[1:], strict=False)):
            return None
        if not slots:
            return None
        template = compiled(first[0], tuple(slots))
        return template if _filled(template, second[1]) == second[0] else None

    def _encode_stand_in(self, access: Access, values: dict[str, str | None], i: int) -> tuple[bytes, dict[str, str]]:
        sentinels = _sentinels(values, i)
        stand_in = access._replace(at=AT[i][0], rid=sentinels["rid"], vid=sentinels["vid"],
                                   patient=sentinels["rid"] if access.patient is not None and access.patient ==
                                   access.rid else sentinels["patient"])
        encoded = self.batch.encoded(audit_event(stand_in, self.observer, sentinels["id"]))
        return encoded, {k: v for k, v in sentinels.items() if v is not None}


def _values(event_id: str, access: Access) -> dict[str, str | None] | None:
    """The values a template's slots take for ``access``, or None when it takes the general path."""
    if access.query is not None or access.types or access.description is not None:
        return None
    patient = access.patient if access.patient != access.rid else None
    values: dict[str, str | None] = {"id": event_id, "rid": access.rid, "vid": access.vid, "patient": patient}
    for value in values.values():
        if value is not None and not ID.match(value):
            return None
    values["at"] = instant(access.at)[:INSTANT_CHARS]
    return values


def _sentinels(values: dict[str, str | None], i: int) -> dict[str, str | None]:
    found: dict[str, str | None] = {name: None if values[name] is None else pair[i] * len(values[name] or "")
                                    for name, pair in SENTINELS.items()}
    found["at"] = AT[i][1]
    return found


def _filled(template: Template, values: dict[str, Any]) -> bytes:
    return template.format % template.pick([values[name].encode() for name in template.names])
