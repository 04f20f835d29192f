"""Event classification (store/events.py) through the real store: the outbox records what each write meant."""

from __future__ import annotations

from typing import Any

from store.client import StoreHandle
from store.types import SystemPrincipal


def claim(status: str) -> dict[str, Any]:
    return {"resourceType": "Claim", "status": status, "use": "claim", "created": "2026-03-01",
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                                 "code": "professional"}]},
            "patient": {"reference": "Patient/p1"}, "provider": {"reference": "Organization/o1"},
            "priority": {"coding": [{"code": "normal"}]},
            "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/c1"}}]}


def payment_notice(status: str) -> dict[str, Any]:
    return {"resourceType": "PaymentNotice", "status": status, "created": "2026-03-02",
            "payment": {"reference": "PaymentReconciliation/r1"}, "recipient": {"reference": "Organization/o1"},
            "amount": {"value": 120.0, "currency": "USD"}}


async def event_types(store: StoreHandle, principal: SystemPrincipal, rt: str) -> list[str]:
    events = await store.repo.db.events.find({"tenant": principal.tenant, "resourceType": rt}).sort("seq", 1) \
        .to_list(None)
    return [e["type"] for e in events]


async def write_through(store: StoreHandle, principal: SystemPrincipal, first: dict[str, Any],
                        *statuses: str) -> None:
    created = (await store.repo.create(principal, first)).resource
    for status in statuses:
        await store.repo.update(principal, created["resourceType"], created["id"], {**created, "status": status})


async def test_a_claim_is_submitted_when_it_becomes_active(store: StoreHandle, principal: SystemPrincipal) -> None:
    await write_through(store, principal, claim("draft"), "draft", "active", "active", "cancelled")
    assert await event_types(store, principal, "Claim") == [
        "claim.created", "claim.updated", "claim.submitted", "claim.updated", "claim.updated"]


async def test_a_claim_created_active_is_submitted(store: StoreHandle, principal: SystemPrincipal) -> None:
    await write_through(store, principal, claim("active"))
    assert await event_types(store, principal, "Claim") == ["claim.submitted"]


async def test_only_an_active_payment_notice_is_a_payment(store: StoreHandle, principal: SystemPrincipal) -> None:
    await write_through(store, principal, payment_notice("cancelled"))
    await write_through(store, principal, payment_notice("draft"), "active", "cancelled", "active")
    await write_through(store, principal, payment_notice("active"))
    assert await event_types(store, principal, "PaymentNotice") == [
        "paymentNotice.created",
        "paymentNotice.created", "payment.received", "paymentNotice.updated", "payment.received",
        "payment.received"]


async def test_deleting_an_active_claim_is_no_submission(store: StoreHandle, principal: SystemPrincipal) -> None:
    created = (await store.repo.create(principal, claim("active"))).resource
    await store.repo.delete(principal, "Claim", created["id"])
    assert await event_types(store, principal, "Claim") == ["claim.submitted", "claim.deleted"]
