from __future__ import annotations

import base64
import datetime as dt
import itertools
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import bson
import pytest
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from fhir.resources.R4B import get_fhir_model_class

from app.demo import generate_clinic, load_demo, loader
from app.settings import Settings
from store.client import open_store
from store.errors import Unavailable
from store.naming import CS, EXT, GAD7, PHQ9, SID, SSN_SYSTEM, V3_INTERPRETATION, VITAL_CODES, VITALS_PANEL
from store.types import SystemPrincipal

ANCHOR = dt.date(2025, 3, 12)
NOW = "2025-03-12T12:00:00Z"
ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
APPOINTMENT_STATUSES = {
    "proposed",
    "pending",
    "booked",
    "arrived",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
    "checked-in",
    "waitlist",
}

Res = dict[str, Any]


@pytest.fixture(scope="module")
def clinic() -> list[Res]:
    return list(generate_clinic(30, seed=7, anchor=ANCHOR))


@pytest.fixture(scope="module")
def bigger() -> list[Res]:
    return list(generate_clinic(60, seed=7, anchor=ANCHOR))


def of(resources: list[Res], rt: str) -> list[Res]:
    return [r for r in resources if r["resourceType"] == rt]


def ext(res: Res, name: str) -> Any:
    for e in res.get("extension", []):
        if e["url"] == EXT[name]:
            return next(v for k, v in e.items() if k.startswith("value"))
    return None


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            yield ref
        for v in node.values():
            yield from references(v)
    elif isinstance(node, list):
        for v in node:
            yield from references(v)


def age_on(birth: str, day: dt.date) -> int:
    b = dt.date.fromisoformat(birth)
    return day.year - b.year - ((day.month, day.day) < (b.month, b.day))


def test_every_resource_is_valid_r4(clinic: list[Res]) -> None:
    for res in clinic:
        get_fhir_model_class(res["resourceType"]).model_validate(res)


def test_ids_are_unique_and_meta_is_left_to_the_store(clinic: list[Res]) -> None:
    keys = [(r["resourceType"], r["id"]) for r in clinic]
    assert len(keys) == len(set(keys))
    assert len({r["id"] for r in clinic}) == len(clinic)
    assert all(ID_RE.match(r["id"]) for r in clinic)
    for r in clinic:
        if "meta" in r:
            assert r["resourceType"] == "Patient" and set(r["meta"]) == {"tag"}
            assert all(t["system"] == CS["patient-tag"] for t in r["meta"]["tag"])


def test_generation_is_deterministic(clinic: list[Res]) -> None:
    assert list(generate_clinic(30, seed=7, anchor=ANCHOR)) == clinic
    other = list(generate_clinic(30, seed=8, anchor=ANCHOR))
    assert other != clinic
    # Every demo clinic has the same org catalogs (tag, alert and custom-field definitions); the rest is its own.
    catalog = {r["id"] for r in clinic if r["resourceType"] == "Basic"}
    assert catalog and catalog == {r["id"] for r in other if r["resourceType"] == "Basic"}
    assert {r["id"] for r in other}.isdisjoint({r["id"] for r in clinic} - catalog)


def test_tags_and_alerts_refer_to_the_org_catalogs(clinic: list[Res]) -> None:
    from store.naming import CS, EXT

    basics = {r["id"]: r for r in clinic if r["resourceType"] == "Basic"}
    tags = [t for r in clinic if r["resourceType"] == "Patient" for t in (r.get("meta") or {}).get("tag", ())
            if t["system"] == CS["patient-tag"]]
    flags = [r for r in clinic if r["resourceType"] == "Flag"]
    assert tags and flags
    assert all(basics[t["code"]]["code"]["coding"][0]["code"] == "tag-definition" for t in tags)
    for flag in flags:
        linked = next(e["valueReference"]["reference"] for e in flag["extension"]
                      if e["url"] == EXT["alert-definition"])
        assert basics[linked.removeprefix("Basic/")]["code"]["coding"][0]["code"] == "alert-definition"
        assert flag["code"]["coding"][0]["code"] == linked.removeprefix("Basic/")


def test_chart_records_refer_to_the_clinical_catalogs(clinic: list[Res]) -> None:
    """Every demo allergy, condition, medication-list entry and communication links to an existing definition of
    its catalog, whose code it carries (as a record written through recordAllergy & co. would)."""
    from store.naming import EXT

    basics = {r["id"]: r for r in clinic if r["resourceType"] == "Basic"}
    links = {"AllergyIntolerance": ("allergy-definition", "allergy-definition", "code"),
             "Condition": ("disease-definition", "disease-definition", "code"),
             "MedicationStatement": ("medication-definition", "medication-definition", "medicationCodeableConcept"),
             "Communication": ("communication-type", "communication-type", "category")}
    for rt, (ext_name, kind, element) in links.items():
        records = [r for r in clinic if r["resourceType"] == rt]
        assert records, rt
        for r in records:
            ref = next(e["valueReference"] for e in r["extension"] if e["url"] == EXT[ext_name])
            definition = basics[ref["reference"].removeprefix("Basic/")]
            assert definition["code"]["coding"][0]["code"] == kind
            concept = r[element][0] if isinstance(r[element], list) else r[element]
            mine = {(c["system"], c["code"]) for c in concept["coding"]}
            theirs = {(e["valueCoding"]["system"], e["valueCoding"]["code"]) for e in definition["extension"]
                      if e["url"] == EXT["definition-code"]}
            assert theirs <= mine, (rt, mine, theirs)
            assert ref["display"]


def test_generation_streams() -> None:
    first = list(itertools.islice(generate_clinic(1_000_000, seed=1, anchor=ANCHOR), 3))
    assert first[0]["resourceType"] == "Organization"


def test_every_reference_points_at_an_earlier_resource(clinic: list[Res]) -> None:
    seen: set[str] = set()
    count = 0
    for res in clinic:
        for ref in references(res):
            assert ref in seen, f"{res['resourceType']}/{res['id']} -> {ref} not yielded before"
            count += 1
        seen.add(f"{res['resourceType']}/{res['id']}")
    assert count > 2 * len(clinic)


def test_patients_carry_the_shared_naming(clinic: list[Res]) -> None:
    patients = of(clinic, "Patient")
    assert len(patients) == 30
    spids = []
    for p in patients:
        systems = {i["system"]: i["value"] for i in p["identifier"]}
        assert {SID["mrn"], SID["chart-number"], SID["spid"], SID["account-number"]} <= set(systems)
        spids.append(int(systems[SID["spid"]]))
        assert any(n["use"] == "official" for n in p["name"])
        assert ext(p, "patient-status") in {"active", "inactive", "prospective", "deceased", "archived"}
        assert isinstance(ext(p, "balance-total"), float)
        assert (
            ext(
                p,
                "patient-location",
            )
            .get("reference", "")
            .startswith("Location/")
        )
        assert p["generalPractitioner"][0]["reference"].startswith("Practitioner/")
        assert p["communication"][0]["language"]["coding"][0]["code"]
    assert spids == list(range(1, 31))
    assert any(SSN_SYSTEM in {i["system"] for i in p["identifier"]} for p in patients)
    assert any(n["use"] == "nickname" for p in patients for n in p["name"])
    assert any(len(p["generalPractitioner"]) == 2 for p in patients)
    assert any("meta" in p for p in patients)
    uses = {(t["system"], t["use"]) for p in patients for t in p["telecom"]}
    assert {("phone", "mobile"), ("phone", "home"), ("email", "home")} <= uses


def test_every_patient_status_is_present_and_consistent(clinic: list[Res]) -> None:
    patients = of(clinic, "Patient")
    statuses = Counter(ext(p, "patient-status") for p in patients)
    assert set(statuses) == {"active", "inactive", "prospective", "deceased", "archived"}
    assert statuses["active"] > len(patients) / 2
    for p in patients:
        status = ext(p, "patient-status")
        assert p["active"] is (status not in ("inactive", "archived"))
        assert ("deceasedDateTime" in p) is (status == "deceased")
        # archived as archivePatient archives (resolvers/model/patient.py set_status): when, beside the status
        assert (ext(p, "deleted-at") is not None) is (status == "archived"), p["id"]


def test_families_guarantors_and_guardians(clinic: list[Res]) -> None:
    patients = {p["id"]: p for p in of(clinic, "Patient")}
    accounts = of(clinic, "Account")
    covered = [s["reference"].split("/")[1] for a in accounts for s in a["subject"]]
    assert sorted(covered) == sorted(patients)  # every patient is in exactly one household account
    assert any(len(a["subject"]) > 1 for a in accounts)
    for a in accounts:
        guarantor = a["guarantor"][0]["party"]["reference"]
        assert guarantor in {s["reference"] for s in a["subject"]}
        assert a["identifier"][0]["system"] == SID["account-number"]
        members = [patients[s["reference"].split("/")[1]] for s in a["subject"]]
        if len(members) > 1:
            g = patients[guarantor.split("/")[1]]
            assert age_on(g["birthDate"], ANCHOR) >= 18
            assert len({m["address"][0]["line"][0] for m in members}) == 1

    relations = of(clinic, "RelatedPerson")
    guardians = [r for r in relations if ext(r, "is-guardian") is True]
    assert guardians
    for r in guardians:
        ward = patients[r["patient"]["reference"].split("/")[1]]
        guardian = patients[ext(r, "related-patient")["reference"].split("/")[1]]
        assert age_on(ward["birthDate"], ANCHOR) < 18
        assert age_on(guardian["birthDate"], ANCHOR) >= 18
        assert {c["coding"][0]["code"] for c in r["relationship"]} & {"MTH", "FTH", "PRN", "GUARD"}
    minors = {pid for pid, p in patients.items() if age_on(p["birthDate"], ANCHOR) < 18}
    assert minors and minors <= {r["patient"]["reference"].split("/")[1] for r in guardians}
    codes = {c["coding"][0]["code"] for r in relations for c in r["relationship"]}
    assert {"CHILD", "SPS", "SIB"} <= codes and codes & {"MTH", "FTH"}

    for g in of(clinic, "Group"):
        assert g["type"] == "person" and g["actual"] is True
        emails = {
            t["value"]
            for m in g["member"]
            for t in patients[m["entity"]["reference"].split("/")[1]]["telecom"]
            if t["system"] == "email"
        }
        assert len(emails) == 1


def test_all_appointment_statuses_past_and_future(bigger: list[Res]) -> None:
    appts = of(bigger, "Appointment")
    assert {a["status"] for a in appts} == APPOINTMENT_STATUSES
    assert any(a["start"] < NOW for a in appts) and any(a["start"] > NOW for a in appts)
    slots = {s["id"]: s for s in of(bigger, "Slot")}
    assert {s["status"] for s in slots.values()} >= {"free", "busy", "busy-tentative"}
    for a in appts:
        kinds = {p["actor"]["reference"].split("/")[0] for p in a["participant"]}
        assert {"Patient", "Practitioner", "Location", "HealthcareService"} <= kinds
        assert a["minutesDuration"] > 0 and a["start"] < a["end"]
        assert ext(a, "appointment-workflow-status")
        if a["status"] == "booked":
            slot = slots[a["slot"][0]["reference"].split("/")[1]]
            assert slot["status"] == "busy" and slot["start"] == a["start"]
    held = [(s["schedule"]["reference"], s["start"]) for s in slots.values()]
    assert len(held) == len(set(held)), "two slots of one schedule at the same time"
    assert any(ext(a, "episode-of-care") for a in appts)


def test_fulfilled_visits_have_encounters_and_signed_notes(bigger: list[Res]) -> None:
    encounters = {e["appointment"][0]["reference"]: e for e in of(bigger, "Encounter")}
    for a in of(bigger, "Appointment"):
        if a["status"] == "fulfilled":
            enc = encounters[f"Appointment/{a['id']}"]
            assert enc["status"] == "finished"
            assert enc["class"]["code"] in {"AMB", "VR"}
    assert {e["class"]["code"] for e in encounters.values()} == {"AMB", "VR"}
    docs = of(bigger, "DocumentReference")
    assert docs
    signed = [d for d in docs if d["docStatus"] == "final"]
    assert len(signed) > len(docs) / 2
    for d in signed:
        assert d["status"] == "current" and d["authenticator"]
        assert d["type"]["coding"][0]["code"] in {"11506-3", "34109-9"}
        text = base64.b64decode(d["content"][0]["attachment"]["data"]).decode()
        assert text.startswith("S: ") and "\nA: " in text and "\nP: " in text
        assert d["context"]["encounter"][0]["reference"].startswith("Encounter/")


def test_observations(bigger: list[Res]) -> None:
    obs = of(bigger, "Observation")
    panels = [o for o in obs if o["code"]["coding"][0]["code"] == VITALS_PANEL]
    assert panels
    flags: dict[str, set[str]] = defaultdict(set)
    for p in panels:
        assert p["category"][0]["coding"][0]["code"] == "vital-signs"
        for c in p["component"]:
            code = c["code"]["coding"][0]["code"]
            assert code in VITAL_CODES.values()
            for i in c.get("interpretation", []):
                assert i["coding"][0]["system"] == V3_INTERPRETATION
                flags[code].add(i["coding"][0]["code"])
            if code == VITAL_CODES["bp_systolic"] and c["valueQuantity"]["value"] > 180:
                assert c["interpretation"][0]["coding"][0]["code"] == "HH"
            if code == VITAL_CODES["oxygen_saturation"] and c["valueQuantity"]["value"] < 94:
                assert c["interpretation"][0]["coding"][0]["code"] == "LL"
    assert any(f & {"HH", "LL"} for f in flags.values()), "no critical vital sign"
    assert any(f & {"H", "L"} for f in flags.values())
    surveys = {
        o["code"]["coding"][0]["code"]: o["valueInteger"]
        for o in obs
        if o["category"][0]["coding"][0]["code"] == "survey"
    }
    assert set(surveys) == {PHQ9, GAD7}
    social = {
        o["code"]["coding"][0]["code"]
        for o in obs
        if o["category"][0]["coding"][0]["code"] == "social-history"
    }
    assert {"72166-2", "74013-4"} <= social


def test_medical_summary_resources(bigger: list[Res]) -> None:
    assert {m["status"] for m in of(bigger, "MedicationStatement")} >= {"active", "completed"}
    assert all(m["intent"] == "order" and m["requester"] for m in of(bigger, "MedicationRequest"))
    allergies = of(bigger, "AllergyIntolerance")
    assert allergies and all(a["patient"]["reference"].startswith("Patient/") for a in allergies)
    assert all(r["manifestation"] and r["severity"] for a in allergies for r in a["reaction"])
    assert {c["clinicalStatus"]["coding"][0]["code"] for c in of(bigger, "Condition")} >= {
        "active",
        "resolved",
    }
    flags = of(bigger, "Flag")
    assert {ext(f, "alert-scope") for f in flags} == {"patient", "family"}
    episodes = of(bigger, "EpisodeOfCare")
    assert episodes and all(ext(e, "episode-name") for e in episodes)
    for e in episodes:
        assert (ext(e, "episode-reason-incomplete") is not None) is (e["status"] == "cancelled")
    comms = of(bigger, "Communication")
    assert comms and all(c["status"] == "completed" and c["sent"] < NOW for c in comms)
    directions = {e["valueCoding"]["code"] for c in comms for e in c["extension"] if "valueCoding" in e}
    assert directions == {"inbound", "outbound"}
    # every demo communication is of an org communication type (app/demo/catalog.py)
    assert all(ext(c, "communication-type")["reference"].startswith("Basic/commtype-") for c in comms)


def test_nothing_happens_to_a_patient_after_death() -> None:
    resources = list(generate_clinic(150, seed=11, anchor=ANCHOR))
    died = {
        p["id"]: p["deceasedDateTime"]
        for p in of(resources, "Patient")
        if ext(p, "patient-status") == "deceased"
    }
    assert died
    for r in resources:
        subject = r.get("subject") or r.get("patient")
        if not isinstance(subject, dict) or subject["reference"].removeprefix("Patient/") not in died:
            continue
        death = died[subject["reference"].removeprefix("Patient/")]
        for key in ("sent", "effectiveDateTime", "authoredOn", "date"):
            assert r.get(key, "") <= death, (r["resourceType"], key)
        if r["resourceType"] == "Flag":
            assert r["status"] == "inactive"
        if r["resourceType"] == "MedicationStatement":
            assert r["status"] != "active"
    for a in of(resources, "Appointment"):
        patient = next(
            p["actor"]["reference"] for p in a["participant"] if p["actor"]["reference"].startswith("Pat")
        )
        assert a["start"] < died.get(patient.removeprefix("Patient/"), "9999")


PRINCIPAL = SystemPrincipal("demo-tenant", "demo-loader")


class FakeStore:
    def __init__(self) -> None:
        self.batches: list[list[Res]] = []
        self.sequences: dict[tuple[str, str], int] = {}

    async def bulk_load(self, principal: object, batch: list[Res], stamp: str | None = None) -> None:
        assert principal is PRINCIPAL and stamp is not None
        self.batches.append(list(batch))

    async def raise_seq(self, tenant: str, name: str, at_least: int) -> None:
        self.sequences[(tenant, name)] = max(self.sequences.get((tenant, name), 0), at_least)


async def test_load_demo_streams_batches_into_the_store() -> None:
    store = FakeStore()
    calls: list[tuple[str, int, int]] = []
    counts = await load_demo(
        store,
        PRINCIPAL,
        12,
        seed=3,
        anchor=ANCHOR,
        batch_size=50,
        progress=lambda phase, done, total: calls.append((phase, done, total)),
    )
    loaded = [r for b in store.batches for r in b]
    assert loaded == list(generate_clinic(12, seed=3, anchor=ANCHOR))
    assert all(0 < len(b) <= 50 for b in store.batches)  # full batches, and each phase's last
    assert counts == dict(Counter(r["resourceType"] for r in loaded))
    assert counts["Patient"] == 12
    # the qapi counters are past the demo's SPIDs and SAIDs, so later ids never repeat one
    assert store.sequences == {("demo-tenant", "spid"): 12, ("demo-tenant", "said"): counts["Appointment"]}
    phases = [c[0] for c in calls]
    assert list(dict.fromkeys(phases)) == ["practice", "patients", "free slots"]
    assert len(calls) == len(store.batches) + 3  # each batch, and each phase's start at 0
    for phase in ("practice", "patients", "free slots"):
        mine = [(done, total) for p, done, total in calls if p == phase]
        assert mine[0][0] == 0 and mine[-1][0] == mine[-1][1] and [d for d, _ in mine] == sorted(d for d, _ in mine)
    assert ("patients", 12, 12) in calls


async def test_load_demo_accepts_an_async_progress_callback() -> None:
    store = FakeStore()
    seen: list[int] = []

    async def progress(phase: str, done: int, total: int) -> None:
        if phase == "patients":
            seen.append(done)

    counts = await load_demo(store, PRINCIPAL, 3, anchor=ANCHOR, batch_size=10_000, progress=progress)
    assert len(store.batches) == 3 and seen == [0, 3] and counts["Patient"] == 3  # one batch per phase


class FlakyStore(FakeStore):
    """Unavailable for the first ``failures`` tries of every batch."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.tries: list[tuple[str, str | None]] = []  # (first id of the batch, its stamp), per try

    async def bulk_load(self, principal: object, batch: list[Res], stamp: str | None = None) -> None:
        self.tries.append((batch[0]["id"], stamp))
        if sum(first == batch[0]["id"] for first, _ in self.tries) <= self.failures:
            raise Unavailable()
        await super().bulk_load(principal, batch, stamp)


async def test_a_batch_the_store_is_unavailable_for_is_tried_again_with_its_stamp() -> None:
    store = FlakyStore(failures=2)
    counts = await load_demo(store, PRINCIPAL, 3, anchor=ANCHOR, batch_size=10_000, retry_pauses_s=(0, 0, 0))
    assert [r for b in store.batches for r in b] == list(generate_clinic(3, anchor=ANCHOR))
    assert counts["Patient"] == 3 and len(store.batches) == 3 and len(store.tries) == 9  # each batch: 2 failed
    for first in {f for f, _ in store.tries}:
        assert len({stamp for f, stamp in store.tries if f == first}) == 1  # one stamp for every try of a batch


async def test_a_store_that_stays_unavailable_fails_the_load_in_one_line() -> None:
    store = FlakyStore(failures=99)
    with pytest.raises(Unavailable) as failed:
        await load_demo(store, PRINCIPAL, 3, anchor=ANCHOR, batch_size=10_000, retry_pauses_s=(0, 0))
    assert len(store.tries) == 3 and not store.batches
    assert str(failed.value) == "The database did not take a batch of demo data in 3 tries over 0s; retry later"


async def test_batches_prepared_in_the_worker_store_the_very_documents_bulk_load_stores(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "now_instant", lambda: "2025-03-12T12:00:00.000Z")  # one stamp for both loads
    principal = SystemPrincipal("demo-worker", "demo-loader")
    raw = CodecOptions(document_class=RawBSONDocument)
    stored: list[dict[str, list[bytes]]] = []
    for worker in (True, False):
        name = f"{settings.db_name}_{'wk' if worker else 'in'}"
        handle = await open_store(settings.mongodb_uri, name)
        db = handle.client[name]
        try:
            counts = await load_demo(handle.repo, principal, 5, anchor=ANCHOR, batch_size=40, worker=worker)
            assert counts["Patient"] == 5
            stored.append({c: [d.raw for d in await db.get_collection(c, codec_options=raw).find().sort(
                "_id", 1).to_list(None)] for c in sorted(await db.list_collection_names()) if c != "events"})
        finally:
            await handle.client.drop_database(name)
            await handle.close()
    worker_load, inline_load = stored
    assert worker_load.keys() == inline_load.keys() and worker_load["Patient"] and worker_load["Provenance"]
    for name in inline_load:
        if name.startswith("Group"):  # the practitioners' panels: written as a write is, stamped with its time
            assert list(map(_timeless, worker_load[name])) == list(map(_timeless, inline_load[name])), name
        else:
            assert worker_load[name] == inline_load[name], name  # byte for byte (Provenance ids included)


STAMPED = ("lastUpdated", "_lastUpdated", "valueInstant", "lu", "created")  # where a write's time is kept


def _timeless(raw: bytes) -> Any:
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in STAMPED}
        return [strip(v) for v in value] if isinstance(value, list) else value
    return strip(bson.decode(raw))


async def test_serve_demo_logs_in_an_active_patient(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    """``serve --demo``'s patient login names a patient the patient lists show (not an archived one)."""
    import httpx

    from app.main import create_app
    from tests.conftest import API_KEYS, ServerThread, drop_test_database, free_port

    own = settings.model_copy(update={"db_name": f"fhirgraph_demo_{uuid.uuid4().hex[:8]}",
                                      "default_tenant": "tenant-a"})
    srv = ServerThread(create_app(own, demo_patients=20), free_port())
    srv.start()
    try:
        printed = capsys.readouterr().out
        found = re.search(r"demo login: demo-patient / \S+ {2}\(Patient/([^)]+)\)", printed)
        assert found, printed
        async with httpx.AsyncClient(base_url=f"{srv.url}/fhir/r4", headers={"X-API-Key": API_KEYS["tenant-a"]}
                                     ) as fhir:
            patient = (await fhir.get(f"/Patient/{found.group(1)}")).json()
        assert patient.get("active") is True, patient
    finally:
        srv.stop()
        drop_test_database(own)
