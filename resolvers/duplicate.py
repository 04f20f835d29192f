"""Potential duplicate patients (seed 003 check-duplicates and ``potential_duplicates``): any one signal — last
name with date of birth, email, mobile phone, SSN — flags another patient. Emails match whatever their case,
phones and SSNs whatever their punctuation (the normalized keys of store/keys.py).

One store search per signal kind for a whole batch of patients (``load_duplicates``, the
``duplicates_by_signals`` loader of resolvers/loaders.py): the values of the batch are OR-ed in one search and
the rows sorted back to each patient here, so ``patients { potentialDuplicates }`` costs at most four
searches per page, whatever its size.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from resolvers.access import Guarded
from resolvers.model import patient as model
from store.keys import digits, fold, phone_forms
from store.naming import SSN_SYSTEM
from store.types import PrincipalLike, Resource

# Rows one signal kind may bring back per patient of the batch (one patient: as many as before batching).
PER_PATIENT = 50

# A search text made only of phone punctuation and at least seven digits is one phone number, however written.
_PHONE_TEXT = re.compile(r"^\+?[0-9\s().-]+$")
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")


def phone_key(text: str) -> str | None:
    """The search key of ``text`` when it is a phone number (store/keys.py ``phone_forms``): its national
    digits ('+1 (614) 555-9012' → '6145559012'), or the seven-digit local number; else None."""
    text = text.strip()
    if not _PHONE_TEXT.match(text) or _DATE_TEXT.match(text):
        return None
    forms = phone_forms(text)
    if not forms:
        return None
    d = digits(text)
    return d[1:] if len(d) == 11 and d.startswith("1") else forms[0]


@dataclass(frozen=True)
class Signals:
    """What one patient (written, about to be, or only described) is compared on; ``exclude``: its own id."""

    last_name: str = ""
    date_of_birth: str | None = None
    email: str | None = None
    mobile_phone: str | None = None
    ssn: str | None = None
    exclude: str | None = None

    @property
    def family(self) -> str | None:
        return fold(self.last_name) if self.last_name and self.date_of_birth else None

    @property
    def mail(self) -> str | None:
        return fold(self.email) if self.email and self.email.strip() else None

    @property
    def phone(self) -> str | None:
        return phone_key(self.mobile_phone or "")

    @property
    def ssn_digits(self) -> str | None:
        return digits(self.ssn) if self.ssn and len(digits(self.ssn)) == 9 else None


def signals_of(patient: model.Patient) -> Signals:
    return Signals(last_name=patient.last_name or "", date_of_birth=patient.date_of_birth, email=patient.email,
                   mobile_phone=patient.mobile_phone, ssn=patient.social_security_number, exclude=str(patient.id))


def _or(values: set[str]) -> str:
    return ",".join(v.replace("\\", "\\\\").replace(",", "\\,") for v in sorted(values))


def _keys(r: Resource) -> tuple[str, str | None, set[str], set[str], set[str]]:
    """A candidate's (folded family, birthDate, folded emails, phone forms, SSN digits), as store/keys.py
    indexes them."""
    emails, phones = set(), set()
    for t in r.get("telecom") or ():
        value = t.get("value") if isinstance(t, dict) else None
        if isinstance(value, str) and t.get("system") == "email":
            emails.add(fold(value))
        elif isinstance(value, str) and t.get("system") == "phone":
            phones.update(phone_forms(value))
    ssns = {digits(i["value"]) for i in r.get("identifier") or ()
            if isinstance(i, dict) and i.get("system") == SSN_SYSTEM and isinstance(i.get("value"), str)}
    return fold(model.names(r)[0].get("family") or ""), r.get("birthDate"), emails, phones, ssns


def _matches(s: Signals, keys: tuple[str, str | None, set[str], set[str], set[str]]) -> bool:
    family, born, emails, phones, ssns = keys
    return bool((s.family and family == s.family and born == s.date_of_birth) or (s.mail and s.mail in emails)
                or (s.phone and s.phone in phones) or (s.ssn_digits and s.ssn_digits in ssns))


async def find(repo: Guarded, principal: PrincipalLike, wanted: list[Signals]) -> list[list[Resource]]:
    """For each ``Signals``, the other patients it flags, in the order the searches found them."""
    searches: list[list[tuple[str, str]]] = []
    families = {s.family for s in wanted if s.family}
    if families:
        searches.append([("family", _or(families)),
                         ("birthdate", _or({s.date_of_birth for s in wanted if s.family and s.date_of_birth}))])
    for param, values in (("email", {s.mail for s in wanted if s.mail}),
                          ("phone", {s.phone for s in wanted if s.phone}),
                          ("identifier", {f"{SSN_SYSTEM}|{s.ssn_digits}" for s in wanted if s.ssn_digits})):
        if values:
            searches.append([(param, _or(values))])
    count = PER_PATIENT * len(wanted)
    pages = await asyncio.gather(*(repo.search(principal, "Patient", p, count=count) for p in searches))
    rows: dict[str, Resource] = {}
    for page in pages:
        for r in page.resources:
            rows.setdefault(r["id"], r)
    keys = {rid: _keys(r) for rid, r in rows.items()}
    return [[r for rid, r in rows.items() if rid != s.exclude and _matches(s, keys[rid])] for s in wanted]


def load_duplicates(repo: Guarded, principal: PrincipalLike
                    ) -> Callable[[list[Signals]], Awaitable[list[list[Resource]]]]:
    async def batch(wanted: list[Signals]) -> list[list[Resource]]:
        return await find(repo, principal, wanted)

    return batch


def summaries(rows: list[Resource]) -> list[model.PatientSummary]:
    return [model.summary_from_fhir(r) for r in rows]
