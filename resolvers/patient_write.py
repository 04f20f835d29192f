"""The patient mutations (seed 003): create (with an idempotency key), PATCH update, status transitions,
archive/restore, and the responsible party (the guarantor of the patient's Account). Every error names the
offending input by its GraphQL path in ``field`` (graph/errors.py)."""

from __future__ import annotations

import uuid
from typing import Any

from resolvers import catalog as catalog_r
from resolvers import duplicate, idempotency
from resolvers import patient as find
from resolvers.context import Scope
from resolvers.model import patient as model
from resolvers.model.patient_input import NAME_MAX, apply_fields, validate
from store.clock import utc_now
from store.errors import Conflict, DuplicateIdentifier, Invalid, InvalidTransition, NotFound
from store.fhirjson import ref_id, set_ext
from store.types import Resource

TRANSITIONS = {"prospective": {"active"}, "active": {"inactive", "deceased"}, "inactive": {"active"}}


def _now() -> str:
    return utc_now().isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _duplicate_chart(prefix: str) -> Conflict:
    return Conflict("chartNumber is already used by another patient", field=f"{prefix}.chartNumber")


async def prepare_new(ctx: Scope, f: dict[str, Any], prefix: str = "input") -> Resource:
    """A new FHIR Patient from CreatePatientIn fields, validated and its references checked (nothing written)."""
    validate(f, creating=True, prefix=prefix)
    f = dict(f)
    status = getattr(f.pop("status", None), "value", None) or "active"
    if status == "archived":
        raise Invalid("A patient cannot be created archived", field=f"{prefix}.status")
    await find.require(ctx, {k: f.get(k) for k in find.REFERENCES}, prefix)
    await catalog_r.check_tags(ctx, f.get("tags"), f"{prefix}.tags")  # tags are tag definition ids
    await check_billing_account(ctx, f, prefix)
    res: Resource = {"resourceType": "Patient", "id": str(uuid.uuid4())}
    apply_fields(res, f)
    model.set_status(res, status)
    if "allergy_review_status" not in f:
        set_ext(res, "allergy-review-status", "valueCode", "not_reviewed")
    return res


async def write_new(ctx: Scope, res: Resource, f: dict[str, Any], prefix: str = "input") -> Resource:
    try:
        written = await ctx.repo.create(ctx.who, res, keep_id=True)
    except DuplicateIdentifier:
        raise _duplicate_chart(prefix) from None
    account = f.get("billing_account")
    if account:
        own = account["choice"] == "own"
        await assign_responsible_party(ctx, res["id"], res["id"] if own else str(account["guarantor_id"]),
                                       name=account.get("name"))
    elif f.get("responsible_party_id"):
        await assign_responsible_party(ctx, res["id"], str(f["responsible_party_id"]))
    return written.resource


async def check_billing_account(ctx: Scope, f: dict[str, Any], prefix: str) -> None:
    """createPatient's billingAccount: JOIN names an existing patient (NOT_FOUND) and no name, OWN no
    guarantorId; never beside responsiblePartyId, which decides the same thing."""
    account = f.get("billing_account")
    if not account:
        return
    where = f"{prefix}.billingAccount"
    if f.get("responsible_party_id"):
        raise Invalid("Send billingAccount or responsiblePartyId, not both", field=where)
    if account["choice"] == "own":
        if account.get("guarantor_id"):
            raise Invalid("guarantorId is for JOIN; an OWN account's guarantor is the patient",
                          field=f"{where}.guarantorId")
        name = account.get("name")
        if name is not None and (not name.strip() or len(name) > NAME_MAX):
            raise Invalid(f"name must be 1 to {NAME_MAX} characters", field=f"{where}.name")
        return
    if account.get("name") is not None:
        raise Invalid("name is for OWN: a joined account keeps its own", field=f"{where}.name")
    gid = account.get("guarantor_id")
    if not gid:
        raise Invalid("JOIN needs guarantorId", field=f"{where}.guarantorId")
    if await ctx.loaders.patients_by_id.load(str(gid)) is None:
        raise NotFound(f"Patient {str(gid)[:64]} not found", field=f"{where}.guarantorId")


async def create_patient(ctx: Scope, f: dict[str, Any], idempotency_key: str | None = None
                         ) -> model.CreatePatientPayload:
    """A new patient (seed 003 CreatePatientIn); the payload lists the existing patients it may duplicate.
    With ``idempotency_key``, a repeat of the same input answers the first call's patient instead of creating
    another; the key reused with another input, or while the first call still runs, is ``CONFLICT`` (seed 409)."""
    async def create() -> tuple[model.CreatePatientPayload, dict[str, Any]]:
        payload = await _create(ctx, f)
        return payload, {"patient": str(payload.patient.id),
                         "duplicates": [str(d.id) for d in payload.potential_duplicates]}

    return await idempotency.once(ctx, "createPatient", "Patient", idempotency_key, f, create,
                                  lambda earlier: _replay(ctx, earlier))


async def _replay(ctx: Scope, earlier: dict[str, Any]) -> model.CreatePatientPayload:
    ids = [earlier["patient"], *earlier.get("duplicates", [])]
    found = await ctx.repo.read_many(ctx.who, "Patient", ids)
    made = found.get(earlier["patient"])
    if made is None:  # deleted since: the repeat cannot answer what the first call did
        raise Conflict("The patient this idempotencyKey created no longer exists", field="idempotencyKey")
    return model.CreatePatientPayload(
        patient=model.from_fhir(made),
        potential_duplicates=[model.summary_from_fhir(found[d]) for d in earlier.get("duplicates", []) if d in found])


async def _create(ctx: Scope, f: dict[str, Any]) -> model.CreatePatientPayload:
    res = await prepare_new(ctx, f)
    dups = await possible_duplicates(ctx, model.from_fhir(res))
    written = await write_new(ctx, res, f)
    return model.CreatePatientPayload(patient=model.from_fhir(written), potential_duplicates=dups)


async def possible_duplicates(ctx: Scope, patient: model.Patient) -> list[model.PatientSummary]:
    """The other patients ``patient`` (as it is, or is about to be, written) may duplicate: seed 003's
    ``potential_duplicates`` of a create or an update, by the check-duplicates signals."""
    return duplicate.summaries((await duplicate.find(ctx.repo, ctx.who, [duplicate.signals_of(patient)]))[0])


async def save(ctx: Scope, res: Resource, base_version: int | None, prefix: str = "input") -> model.Patient:
    try:
        written = await ctx.repo.update(ctx.who, "Patient", res["id"], res,
                                        if_match=str(base_version) if base_version is not None else None)
    except DuplicateIdentifier:
        raise _duplicate_chart(prefix) from None
    ctx.loaders.prime(ctx.loaders.patients_by_id, res["id"], written.resource)
    return model.from_fhir(written.resource)


async def current(ctx: Scope, pid: str) -> Resource:
    """The patient ``pid`` to change; NOT_FOUND in the words of every other patient lookup (not the store's
    ``Patient/<id>``), naming the mutation's ``id`` argument."""
    try:
        return await ctx.repo.read(ctx.who, "Patient", str(pid))
    except (Invalid, NotFound) as exc:  # Invalid: not even a FHIR id, so no such patient
        raise NotFound(f"Patient {str(pid)[:64]} not found", field="id") from exc


async def prepare_update(ctx: Scope, res: Resource, f: dict[str, Any], prefix: str = "input") -> Resource:
    """``res`` with the PATCH fields applied, validated and references checked (nothing written)."""
    validate(f, creating=False, prefix=prefix)
    if "status" in f:
        raise Invalid("Change the status with transitionPatientStatus", field=f"{prefix}.status")
    await find.require(ctx, {k: f.get(k) for k in find.REFERENCES}, prefix)
    await catalog_r.check_tags(ctx, f.get("tags"), f"{prefix}.tags")
    return apply_fields(res, f)


async def update_patient(ctx: Scope, pid: str, base_version: int, f: dict[str, Any]
                         ) -> model.UpdatePatientPayload:
    """PATCH a patient: only the fields sent change. The payload lists the other patients the updated one may
    duplicate (seed 003 returns ``potential_duplicates`` on update too)."""
    res = await prepare_update(ctx, await current(ctx, pid), f)
    saved = await save(ctx, res, base_version)
    if "responsible_party_id" in f:
        await assign_responsible_party(ctx, str(pid), f["responsible_party_id"])
    return model.UpdatePatientPayload(patient=saved, potential_duplicates=await possible_duplicates(ctx, saved))


async def transition_status(ctx: Scope, pid: str, base_version: int, target_status: model.PatientStatus
                            ) -> model.Patient:
    """prospective→active, active→inactive|deceased, inactive→active (seed 003 status transitions)."""
    res = await current(ctx, pid)
    target = target_status.value
    now = model.lifecycle(res)
    if target == "archived":
        raise InvalidTransition("Use archivePatient to archive a patient", current=now, target=target)
    if target == now:
        raise InvalidTransition(f"The patient is already {now}", current=now, target=target)
    if target not in TRANSITIONS.get(now, set()):
        raise InvalidTransition(f"A patient cannot go from {now} to {target}", current=now, target=target)
    model.set_status(res, target)
    return await save(ctx, res, base_version)


async def archive_patient(ctx: Scope, pid: str, base_version: int | None) -> model.Patient:
    """Archive (soft-delete, ``deletedAt`` set); refused while the patient is the guarantor of active
    dependents."""
    res = await current(ctx, pid)
    if model.lifecycle(res) == "archived":
        raise Invalid("The patient is already archived")
    page = await ctx.repo.search(ctx.who, "Account", [("guarantor", f"Patient/{pid}")], count=100)
    dependents = {ref_id(s, "Patient") for acc in page.resources for s in acc.get("subject") or ()} - {pid, None}
    if dependents:
        found = await ctx.repo.read_many(ctx.who, "Patient", [d for d in dependents if d])
        active = [d for d in found.values() if model.lifecycle(d) in ("active", "prospective")]
        if active:
            raise Invalid("The patient is the guarantor of active dependents; reassign the guarantor first",
                          dependents=len(active))
    model.set_status(res, "archived", now=_now())
    return await save(ctx, res, base_version)


async def restore_patient(ctx: Scope, pid: str, base_version: int | None) -> model.Patient:
    """Restore an archived patient; it comes back inactive."""
    res = await current(ctx, pid)
    if model.lifecycle(res) != "archived":
        raise Invalid("The patient is not archived")
    model.set_status(res, "inactive")
    return await save(ctx, res, base_version)


# ---------------------------------------------------------------------------------------------- responsible party


async def assign_responsible_party(ctx: Scope, pid: str, party: str | None, *, name: str | None = None) -> None:
    """Make ``party`` (a patient; None: nobody) the guarantor of ``pid``: ``pid`` leaves the Accounts of other
    guarantors and joins ``party``'s Account (one is opened when ``party`` guarantees none yet). The family
    (resolvers/family.py) is the patients sharing a guarantor, so this is also how a patient changes family.
    ``name``: the name of the Account opened, if one is (default '<surname> household')."""
    mine = await ctx.repo.search(ctx.who, "Account", [("subject", f"Patient/{pid}")], count=100)
    target: Resource | None = None
    if party:
        theirs = await ctx.repo.search(ctx.who, "Account", [("guarantor", f"Patient/{party}"), ("status", "active")],
                                       count=1)
        target = theirs.resources[0] if theirs.resources else None
    for acc in mine.resources:
        if target is not None and acc["id"] == target["id"]:
            continue
        acc["subject"] = [s for s in acc.get("subject") or () if ref_id(s, "Patient") != pid]
        if not acc["subject"]:
            del acc["subject"]
            acc["status"] = "inactive"
        await ctx.repo.update(ctx.who, "Account", acc["id"], acc)
    if not party:
        return
    if target is None:
        head = await ctx.loaders.patients_by_id.load(party)
        surname = (model.names(head)[0].get("family") if head else None) or "Patient"
        await ctx.repo.create(ctx.who, {
            "resourceType": "Account", "status": "active", "name": name or f"{surname} household",
            "subject": [{"reference": f"Patient/{pid}"}], "guarantor": [{"party": {"reference": f"Patient/{party}"}}]})
    elif not any(ref_id(s, "Patient") == pid for s in target.get("subject") or ()):
        target["subject"] = [*(target.get("subject") or []), {"reference": f"Patient/{pid}"}]
        await ctx.repo.update(ctx.who, "Account", target["id"], target)
    if ctx.loaders.accounts_by_subject.cache_map.get(pid) is not None:
        ctx.loaders.accounts_by_subject.clear(pid)  # this request's later reads see the new family
