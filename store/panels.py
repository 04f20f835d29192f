"""Practitioner panels (seed 004): "the system automatically creates a group for every Practitioner … where the
patients in the group are the individuals who have the Practitioner as their primary care provider".

A panel is a Group with the Practitioner's own id (``Group/<practitioner id>``, as the seed's ``Group/1/$export``),
``type`` person, ``actual`` true, ``managingEntity`` the Practitioner, coded ``CS["group-kind"]|practitioner-panel``,
and one member per Patient whose ``generalPractitioner`` names that Practitioner. The write path keeps it current
(store/writes.py): a Practitioner's create makes its panel, and a Patient write that adds, drops or deletes a
general practitioner moves the patient in or out — a versioned Group write with its own event, in the same
transaction on a replica set (on a standalone server right after the patient's write, a failure logged, as for a
Slot's status). A Group of that id that is not a panel (a family Group a client created) is left as it is.
"""

from __future__ import annotations

from typing import Any

from store.fhirjson import ref_id
from store.naming import CS
from store.types import Resource

PANEL = {"system": CS["group-kind"], "code": "practitioner-panel", "display": "Practitioner panel"}


def practitioners_of(resource: Resource | None) -> set[str]:
    """The Practitioner ids a Patient names as general practitioner (empty for anything else, or None)."""
    if not resource or resource.get("resourceType") != "Patient":
        return set()
    found = (ref_id(gp, "Practitioner") for gp in resource.get("generalPractitioner") or () if isinstance(gp, dict))
    return {rid for rid in found if rid}


def changes(rt: str, action: str, old: Resource | None, new: Resource) -> dict[str, tuple[str | None, bool]]:
    """Panel id → (patient to add or remove, add?) for this write; ``(None, True)``: only make sure the panel
    exists (a Practitioner created)."""
    if rt == "Practitioner":
        return {new["id"]: (None, True)} if action == "create" else {}
    if rt != "Patient":
        return {}
    before = set() if old is None or old.get("_deleted") else practitioners_of(old)
    after = set() if action == "delete" else practitioners_of(new)
    out: dict[str, tuple[str | None, bool]] = {p: (new["id"], True) for p in after - before}
    out.update({p: (new["id"], False) for p in before - after})
    return out


def is_panel(group: dict[str, Any]) -> bool:
    return any(isinstance(c, dict) and c.get("system") == PANEL["system"] and c.get("code") == PANEL["code"]
               for c in (group.get("code") or {}).get("coding") or ())


def updated(practitioner: str, group: dict[str, Any] | None, add: list[str], remove: list[str]) -> Resource | None:
    """The panel with the patients ``add`` in and ``remove`` out (None: nothing to change). ``group``: the stored
    one (None or deleted: none yet)."""
    fresh = group is None or bool(group.get("_sys", {}).get("deleted"))
    members: list[dict[str, Any]] = [] if fresh or group is None else list(group.get("member") or [])
    held = {(m.get("entity") or {}).get("reference") for m in members if isinstance(m, dict)}
    gone = {f"Patient/{p}" for p in remove}
    new = [f"Patient/{p}" for p in dict.fromkeys(add) if f"Patient/{p}" not in held]
    if not fresh and not new and not (gone & held):
        return None
    members = [m for m in members if (m.get("entity") or {}).get("reference") not in gone]
    members += [{"entity": {"reference": ref}} for ref in new]
    panel: Resource = {"resourceType": "Group", "id": practitioner, "active": True, "type": "person",
                       "actual": True, "code": {"coding": [PANEL]}, "name": f"Patients of Practitioner/{practitioner}",
                       "managingEntity": {"reference": f"Practitioner/{practitioner}"}, "quantity": len(members)}
    if members:
        panel["member"] = members
    return panel
