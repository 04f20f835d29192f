"""Patient alerts over GraphQL (seed 003 patients/{id}/alerts): created from an org alert definition, updated,
disabled, archived and bulk-dismissed, each a FHIR Flag write through the store; and the regressions of
issue 14 (the note stored as the alert's name, archived alerts in the default listing)."""

from __future__ import annotations

from typing import Any

from store.naming import EXT
from tests.graph.conftest import GQL

ALERT_FIELDS = ("id version name code note status scope isUrgent disableOn dateDisabled alertDefinitionId "
                "alertDefinition { id name }")
CREATE = f"""mutation($p: ID!, $i: AlertInput!) {{ createAlert(patientId: $p, input: $i) {{ {ALERT_FIELDS} }} }}"""
UPDATE = f"""mutation($p: ID!, $id: ID!, $v: Int!, $i: AlertPatch!) {{
  updateAlert(patientId: $p, id: $id, baseVersion: $v, input: $i) {{ {ALERT_FIELDS} }} }}"""
DISABLE = f"""mutation($p: ID!, $id: ID!, $v: Int!) {{
  disableAlert(patientId: $p, id: $id, baseVersion: $v) {{ {ALERT_FIELDS} }} }}"""
ARCHIVE = f"""mutation($p: ID!, $id: ID!) {{ archiveAlert(patientId: $p, id: $id) {{ {ALERT_FIELDS} }} }}"""
DISMISS = """mutation($p: ID!, $ids: [ID!]!) { bulkDismissAlerts(patientId: $p, alertIds: $ids) {
  archivedCount skippedCount alerts { id status } } }"""
LIST = """query($p: ID!, $s: AlertStatus) { patient(id: $p) { alerts(status: $s) {
  totalCount nodes { id status } } } }"""


async def patient(gql: GQL, tag: str) -> str:
    out = await gql.run('mutation($l: String!) { createPatient(input: {firstName: "Al", lastName: $l}) '
                        '{ patient { id } } }', {"l": tag})
    pid: str = out["createPatient"]["patient"]["id"]
    return pid


async def definition(gql: GQL, name: str, **fields: Any) -> str:
    out = await gql.run("mutation($i: AlertDefinitionInput!) { createAlertDefinition(input: $i) { id } }",
                        {"i": {"name": name, **fields}})
    did: str = out["createAlertDefinition"]["id"]
    return did


async def alert(gql: GQL, pid: str, did: str, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = (await gql.run(CREATE, {"p": pid, "i": {"alertDefinitionId": did, **fields}}))[
        "createAlert"]
    return out


async def listed(gql: GQL, pid: str, status: str | None = None) -> list[str]:
    data = await gql.run(LIST, {"p": pid, "s": status})
    return sorted(n["id"] for n in data["patient"]["alerts"]["nodes"])


async def test_create_alert_from_its_definition_keeps_the_note_as_the_note(gql: GQL, fhir_a, tag: str) -> None:
    """Regression (issue 14): createAlert stored ``note`` as the alert's name."""
    pid = await patient(gql, tag)
    did = await definition(gql, f"Latex allergy {tag}", defaultScope="FAMILY", defaultIsUrgent=True)
    made = await alert(gql, pid, did, note="Use nitrile gloves", disableOn="2027-01-31")
    assert made["name"] == f"Latex allergy {tag}" and made["note"] == "Use nitrile gloves"
    assert made["code"] == did and made["alertDefinitionId"] == did
    assert made["alertDefinition"] == {"id": did, "name": f"Latex allergy {tag}"}
    # scope and urgency default to the definition's
    assert made["scope"] == "FAMILY" and made["isUrgent"] is True and made["disableOn"] == "2027-01-31"
    fhir = (await fhir_a.get(f"/Flag/{made['id']}")).json()
    assert {"url": EXT["alert-definition"], "valueReference": {"reference": f"Basic/{did}",
                                                               "display": f"Latex allergy {tag}"}} in fhir["extension"]
    assert {"url": EXT["alert-note"], "valueString": "Use nitrile gloves"} in fhir["extension"]
    # what is given wins over the definition's defaults
    other = await alert(gql, pid, did, scope="PATIENT", isUrgent=False)
    assert other["scope"] == "PATIENT" and other["isUrgent"] is False and other["note"] is None


async def test_create_alert_errors(gql: GQL, tag: str) -> None:
    pid = await patient(gql, tag)
    did = await definition(gql, f"Fall risk {tag}")
    unknown = await gql.error(CREATE, {"p": pid, "i": {"alertDefinitionId": "no-such-definition"}})
    assert unknown["extensions"] == {"code": "NOT_FOUND", "field": "input.alertDefinitionId"}
    nobody = await gql.error(CREATE, {"p": "no-such-patient", "i": {"alertDefinitionId": did}})
    assert nobody["extensions"]["code"] == "NOT_FOUND"
    bad_date = await gql.error(CREATE, {"p": pid, "i": {"alertDefinitionId": did, "disableOn": "31/01/2027"}})
    assert bad_date["extensions"] == {"code": "VALIDATION", "field": "input.disableOn"}
    await gql.run("mutation($id: ID!) { archiveAlertDefinition(id: $id, baseVersion: 1) { id } }", {"id": did})
    archived = await gql.error(CREATE, {"p": pid, "i": {"alertDefinitionId": did}})
    assert archived["extensions"]["code"] == "NOT_FOUND"


async def test_update_disable_and_archive(gql: GQL, fhir_a: Any, tag: str) -> None:
    pid = await patient(gql, tag)
    did = await definition(gql, f"Billing hold {tag}")
    made = await alert(gql, pid, did, note="Old")
    upd = (await gql.run(UPDATE, {"p": pid, "id": made["id"], "v": 1,
                                  "i": {"note": "Call billing first", "isUrgent": True, "scope": "FAMILY"}}))[
        "updateAlert"]
    assert upd["version"] == 2 and upd["note"] == "Call billing first" and upd["isUrgent"] is True
    assert upd["scope"] == "FAMILY" and upd["name"] == f"Billing hold {tag}"
    stale = await gql.error(UPDATE, {"p": pid, "id": made["id"], "v": 1, "i": {"note": "x"}})
    assert stale["extensions"]["code"] == "VERSION_CONFLICT"
    cleared = await gql.error(UPDATE, {"p": pid, "id": made["id"], "v": 2, "i": {"scope": None}})
    assert cleared["extensions"] == {"code": "VALIDATION", "field": "input.scope"}

    off = (await gql.run(DISABLE, {"p": pid, "id": made["id"], "v": 2}))["disableAlert"]
    assert off["status"] == "DISABLED" and off["dateDisabled"] and off["version"] == 3
    twice = await gql.error(DISABLE, {"p": pid, "id": made["id"], "v": 3})
    assert twice["extensions"]["code"] == "INVALID_TRANSITION"
    back = (await gql.run(UPDATE, {"p": pid, "id": made["id"], "v": 3, "i": {"status": "ACTIVE"}}))["updateAlert"]
    assert back["status"] == "ACTIVE" and back["dateDisabled"] is None

    archived = (await gql.run(ARCHIVE, {"p": pid, "id": made["id"]}))["archiveAlert"]
    assert archived["status"] == "ARCHIVED"
    # In FHIR a dismissed alert is an inactive Flag, not "entered-in-error" (which means recorded by mistake).
    flag = (await fhir_a.get(f"/Flag/{made['id']}")).json()
    assert flag["status"] == "inactive"
    assert any(e["url"] == EXT["archived-at"] and e["valueDateTime"] for e in flag["extension"])
    again = (await gql.run(ARCHIVE, {"p": pid, "id": made["id"]}))["archiveAlert"]
    assert again["version"] == archived["version"]  # already archived: unchanged

    someone_else = await patient(gql, tag)
    foreign = await gql.error(DISABLE, {"p": someone_else, "id": made["id"], "v": 5})
    assert foreign["extensions"] == {"code": "NOT_FOUND", "field": "id"}
    missing = await gql.error(ARCHIVE, {"p": pid, "id": "no-such-alert"})
    assert missing["extensions"]["code"] == "NOT_FOUND"


async def test_archived_alerts_are_left_out_of_the_default_listing(gql: GQL, tag: str) -> None:
    """Regression (issue 14): archived alerts appeared in the default listing."""
    pid = await patient(gql, tag)
    did = await definition(gql, f"Kept {tag}")
    active, disabled, archived = [(await alert(gql, pid, did))["id"] for _ in range(3)]
    await gql.run(DISABLE, {"p": pid, "id": disabled, "v": 1})
    await gql.run(ARCHIVE, {"p": pid, "id": archived})
    assert await listed(gql, pid) == sorted([active, disabled])
    assert await listed(gql, pid, "ARCHIVED") == [archived]
    assert await listed(gql, pid, "DISABLED") == [disabled]
    total = await gql.run(LIST, {"p": pid})
    assert total["patient"]["alerts"]["totalCount"] == 2


async def test_bulk_dismiss(gql: GQL, tag: str) -> None:
    pid = await patient(gql, tag)
    did = await definition(gql, f"Many {tag}")
    ids = [(await alert(gql, pid, did))["id"] for _ in range(4)]
    await gql.run(ARCHIVE, {"p": pid, "id": ids[0]})
    out = (await gql.run(DISMISS, {"p": pid, "ids": ids[:3]}))["bulkDismissAlerts"]
    assert out["archivedCount"] == 2 and out["skippedCount"] == 1
    assert [a["id"] for a in out["alerts"]] == ids[:3] and {a["status"] for a in out["alerts"]} == {"ARCHIVED"}
    assert await listed(gql, pid) == [ids[3]]

    # one id of another patient: NOT_FOUND, and nothing is archived
    other = await patient(gql, tag)
    theirs = (await alert(gql, other, did))["id"]
    err = await gql.error(DISMISS, {"p": pid, "ids": [ids[3], theirs]})
    assert err["extensions"] == {"code": "NOT_FOUND", "field": "alertIds.1"}
    assert await listed(gql, pid) == [ids[3]]
    unknown = await gql.error(DISMISS, {"p": pid, "ids": ["no-such-alert"]})
    assert unknown["extensions"]["code"] == "NOT_FOUND"
    nobody = await gql.error(DISMISS, {"p": "no-such-patient", "ids": [ids[3]]})
    assert nobody["extensions"]["code"] == "NOT_FOUND"

    too_many = await gql.error(DISMISS, {"p": pid, "ids": [f"a{n}" for n in range(51)]})
    assert too_many["extensions"] == {"code": "VALIDATION", "field": "alertIds", "max": 50}
    fifty = (await gql.run(DISMISS, {"p": pid, "ids": [ids[3]] * 50}))["bulkDismissAlerts"]
    assert fifty["archivedCount"] == 1  # 50 is allowed; repeated ids count once


async def test_create_alert_records_when_and_who_and_takes_an_idempotency_key(gql: GQL, fhir_a, tag: str) -> None:
    pid = await patient(gql, tag)
    did = await definition(gql, f"Wanders {tag}")
    create = """mutation($p: ID!, $d: ID!, $n: String, $k: String) { createAlert(patientId: $p,
        input: {alertDefinitionId: $d, note: $n}, idempotencyKey: $k) { id createdAt createdBy updatedAt } }"""
    first = (await gql.run(create, {"p": pid, "d": did, "n": "Door code", "k": f"{tag}-alert"}))["createAlert"]
    assert first["createdAt"] and first["createdAt"] == first["updatedAt"] and first["createdBy"]
    again = (await gql.run(create, {"p": pid, "d": did, "n": "Door code", "k": f"{tag}-alert"}))["createAlert"]
    assert again == first
    misuse = await gql.error(create, {"p": pid, "d": did, "n": "Other", "k": f"{tag}-alert"})
    assert misuse["extensions"] == {"code": "CONFLICT", "field": "idempotencyKey"}
    assert await listed(gql, pid) == [first["id"]]
    changed = (await gql.run(UPDATE.replace(ALERT_FIELDS, "createdAt createdBy updatedAt"),
                             {"p": pid, "id": first["id"], "v": 1, "i": {"note": "New code"}}))["updateAlert"]
    assert changed["createdAt"] == first["createdAt"] and changed["createdBy"] == first["createdBy"]
    assert changed["updatedAt"] >= first["updatedAt"]
    fhir = (await fhir_a.get(f"/Flag/{first['id']}")).json()
    assert any(e["url"] == EXT["alert-created-by"] for e in fhir["extension"])
