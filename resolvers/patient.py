"""The patient domain (seed 003): FHIR Patient ↔ GraphQL ``Patient``, list/search/counts/duplicates, and the
patient mutations (create, PATCH update, status transitions, archive/restore)."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

import strawberry

from graph.pagination import Connection, store_connection
from graph.types import common as common_t
from graph.types import patient as patient_t
from resolvers.fhir import date_part, ext_map, ident, ref_id, set_ext, version
from resolvers.loaders import MISSING, node_of, ready, then
from store import keys as keymod
from store.errors import Invalid, InvalidTransition, NotFound
from store.events import patient_status
from store.naming import CS, EXT, SID, SSN_SYSTEM, sid

if TYPE_CHECKING:
    from graph.context import Info

Resource = dict[str, Any]

MEDICAID_SYSTEM = sid("medicaid-id")
V3_MARITAL = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
V2_CONTACT_ROLE = "http://terminology.hl7.org/CodeSystem/v2-0131"
BCP47 = "urn:ietf:bcp:47"
MARITAL = {"D": "divorced", "M": "married", "S": "single", "W": "widowed", "L": "separated", "T": "domestic_partner"}
MARITAL_CODE = {v: k for k, v in MARITAL.items()} | {"other": "UNK"}
TRANSITIONS = {"prospective": {"active"}, "active": {"inactive", "deceased"}, "inactive": {"active"}}
SORTS = {"LAST_NAME": "family,given", "FIRST_NAME": "given,family", "DATE_OF_BIRTH": "birthdate",
         "CHART_NUMBER": "chart-number", "CREATED": "_created", "UPDATED": "_lastUpdated",
         "STATUS": "lifecycle-status"}
BALANCE_HOLD = 500.0

_STATUS = {s.value: s for s in patient_t.PatientStatus}
_REVIEW = {s.value: s for s in patient_t.AllergyReviewStatus}
_CONTACT = {s.value: s for s in patient_t.ContactMethod}
_PRONOUN = {s.value: s for s in patient_t.Pronoun}


# ---------------------------------------------------------------------------------------------- FHIR → GraphQL


def _names(res: Resource) -> tuple[Resource, Resource | None]:
    official = nickname = None
    for n in res.get("name") or ():
        use = n.get("use")
        if use == "nickname":
            nickname = nickname or n
        elif official is None and use in (None, "official", "usual"):
            official = n
    return official or {}, nickname


def _telecom(res: Resource) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in res.get("telecom") or ():
        value = t.get("value")
        if not isinstance(value, str):
            continue
        system, use = t.get("system"), t.get("use")
        if system == "email":
            out.setdefault("email", value)
        elif system in ("phone", "sms"):
            out.setdefault({"mobile": "mobile", "home": "home", "work": "work"}.get(use or "", "mobile"), value)
    return out


_X = {name: EXT[name] for name in EXT}


def from_fhir(res: Resource) -> patient_t.Patient:
    x = ext_map(res).get
    official, nickname = _names(res)
    given = official.get("given") or []
    tel = _telecom(res)
    addr = (res.get("address") or [{}])[0]
    lines = addr.get("line") or []
    status = x(_X["patient-status"]) or patient_status(res) or "active"
    balance = float(x(_X["balance-total"], 0) or 0)
    gp = res.get("generalPractitioner") or []
    loc = x(_X["patient-location"])
    lang = None
    for c in res.get("communication") or ():
        coding = (c.get("language") or {}).get("coding") or [{}]
        lang = coding[0].get("code") or (c.get("language") or {}).get("text")
        if c.get("preferred"):
            break
    marital = None
    ms = res.get("maritalStatus")
    if isinstance(ms, dict):
        code = next((c.get("code") for c in ms.get("coding") or () if c.get("code")), None)
        marital = MARITAL.get(code or "", "other" if code else None)
    emergency_name = emergency_phone = None
    for contact in res.get("contact") or ():
        name = contact.get("name") or {}
        emergency_name = name.get("text") or " ".join([*(name.get("given") or []), name.get("family") or ""]).strip()
        emergency_phone = next((t.get("value") for t in contact.get("telecom") or () if t.get("value")), None)
        break
    meta = res.get("meta") or {}
    first = given[0] if given else None
    last = official.get("family")
    return patient_t.Patient(
        id=res["id"],
        version=version(res),
        created_at=next((e.get("valueInstant") for e in meta.get("extension", []) if e.get("url") == EXT["created"]),
                        meta.get("lastUpdated") if meta.get("versionId") == "1" else None),
        updated_at=meta.get("lastUpdated"),
        status=_STATUS.get(status, patient_t.PatientStatus.ACTIVE),
        first_name=first,
        middle_name=" ".join(given[1:]) or None,
        last_name=last,
        preferred_name=(nickname.get("given") or [None])[0] if nickname else None,
        title=(official.get("prefix") or [None])[0],
        full_name=" ".join(x for x in (first, last) if x) or official.get("text") or "",
        date_of_birth=res.get("birthDate"),
        gender=res.get("gender"),
        pronoun=_PRONOUN.get(x(_X["pronouns"]) or ""),
        marital_status=marital,
        preferred_language=lang,
        email=tel.get("email"),
        mobile_phone=tel.get("mobile"),
        home_phone=tel.get("home"),
        work_phone=tel.get("work"),
        address_line1=lines[0] if lines else None,
        address_line2=lines[1] if len(lines) > 1 else None,
        city=addr.get("city"),
        state=addr.get("state"),
        postal_code=addr.get("postalCode"),
        country=addr.get("country"),
        chart_number=ident(res, SID["chart-number"]),
        mrn=ident(res, SID["mrn"]),
        social_security_number=ident(res, SSN_SYSTEM),
        medicaid_id=ident(res, MEDICAID_SYSTEM),
        spid=ident(res, SID["spid"]),
        hsid=ident(res, SID["hsid"]),
        account_number=ident(res, SID["account-number"]),
        location=common_t.EntityRef(id=strawberry.ID(lid), name=(loc or {}).get("display"))
        if (lid := ref_id(loc)) else None,
        premedication_required=bool(x(_X["premedication-required"], False)),
        medical_urgent_note=x(_X["medical-urgent-note"]),
        allergy_review_status=_REVIEW.get(x(_X["allergy-review-status"]) or "",
                                          patient_t.AllergyReviewStatus.NOT_REVIEWED),
        preferred_contact_method=_CONTACT.get(x(_X["preferred-contact-method"]) or ""),
        preferred_confirmation_method=_CONTACT.get(x(_X["preferred-confirmation-method"]) or ""),
        receives_email=bool(x(_X["receives-email"], False)),
        receives_sms=bool(x(_X["receives-sms"], False)),
        consent_flags=int(x(_X["consent-flags"], 0) or 0),
        date_first_visit=x(_X["date-first-visit"]),
        balance_total=balance,
        scheduling_restricted=status == "inactive" or balance > BALANCE_HOLD,
        date_time_deceased=res.get("deceasedDateTime"),
        emergency_contact_name=emergency_name,
        emergency_contact_phone=emergency_phone,
        tags=[common_t.Tag(code=t["code"], display=t.get("display")) for t in meta.get("tag") or ()
              if t.get("system") == CS["patient-tag"] and t.get("code")],
        primary_provider_id=ref_id(gp[0], "Practitioner") if gp else None,
        secondary_provider_id=ref_id(gp[1], "Practitioner") if len(gp) > 1 else None,
    )


def summary_from_fhir(res: Resource) -> patient_t.PatientSummary:
    official, nickname = _names(res)
    given = official.get("given") or []
    tel = _telecom(res)
    return patient_t.PatientSummary(
        id=res["id"], first_name=given[0] if given else None, last_name=official.get("family"),
        preferred_name=(nickname.get("given") or [None])[0] if nickname else None,
        date_of_birth=res.get("birthDate"),
        status=_STATUS.get(patient_status(res) or "active", patient_t.PatientStatus.ACTIVE),
        mobile_phone=tel.get("mobile"), email=tel.get("email"), chart_number=ident(res, SID["chart-number"]),
    )


# ---------------------------------------------------------------------------------------------- queries


def node(info: Info, res: Resource) -> patient_t.Patient:
    """The node of ``res``, built once per request however many times the patient appears."""
    return node_of(info.context.loaders, res, from_fhir)


def get_patient(info: Info, pid: str | None) -> Any:
    """The patient node (or, until its batch is loaded, an awaitable of it)."""
    if not pid:
        return None
    loader = info.context.loaders.patients_by_id
    res = ready(loader, str(pid))
    if res is MISSING:
        return then(loader.load(str(pid)), get_patient, info, pid)
    return node(info, res) if res else None


async def require_patient(info: Info, pid: str) -> Resource:
    res: Resource | None = await info.context.loaders.patients_by_id.load(str(pid))
    if res is None:
        raise NotFound(f"Patient {pid} not found")
    return res


def filter_params(flt: Any) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    if flt is None:
        return [("lifecycle-status:not", "archived")]
    if flt.status:
        params.append(("lifecycle-status", ",".join(s.value for s in flt.status)))
    elif not flt.include_archived:
        params.append(("lifecycle-status:not", "archived"))
    if flt.search:
        for word in flt.search.replace(",", " ").split():
            params.append(("_content", word))
    if flt.primary_provider_id:
        params.append(("general-practitioner", f"Practitioner/{flt.primary_provider_id}"))
    if flt.location_id:
        params.append(("location", f"Location/{flt.location_id}"))
    if flt.dob_from:
        params.append(("birthdate", f"ge{flt.dob_from}"))
    if flt.dob_to:
        params.append(("birthdate", f"le{flt.dob_to}"))
    if flt.tag:
        params.append(("_tag", f"{CS['patient-tag']}|{flt.tag}"))
    return params


async def list_patients(info: Info, *, flt: Any = None, sort: Any = None, first: int | None = None,
                        after: str | None = None, last: int | None = None, before: str | None = None,
                        want_total: bool = False) -> Connection[Any]:
    ctx = info.context
    spec = SORTS.get(sort.field.value if sort else "LAST_NAME", "family,given")
    if sort is not None and sort.direction.value == "desc":
        spec = ",".join(f"-{p}" for p in spec.split(","))
    params = filter_params(flt)

    async def search(**kw: Any) -> Any:
        return await ctx.repo.search(ctx.who, "Patient", params, total=want_total, **kw)

    return await store_connection(search, rt="Patient", sort=spec, tenant=ctx.who.tenant,
                                  node=lambda r: node(info, r), first=first, after=after, last=last, before=before,
                                  default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size)


async def search_patients(info: Info, query: str, limit: int) -> list[patient_t.PatientSummary]:
    """Typeahead (seed 003 /patients/search): first, last, preferred name or chart number starts with."""
    words = query.replace(",", " ").split()
    if not words:
        return []
    limit = max(0, min(limit, info.context.settings.max_page_size))
    ctx = info.context
    # Each word must start a name part or the chart number.
    page = await ctx.repo.typeahead(ctx.who, "Patient", words, ["name", "preferred-name", "chart-number"],
                                    [("lifecycle-status:not", "archived")], count=limit, sort="family,given")
    return [summary_from_fhir(r) for r in page.resources]


async def patient_counts_by_location(info: Info, date_from: str | None, date_to: str | None,
                                     statuses: list[Any] | None) -> patient_t.PatientCountsByLocation:
    ctx = info.context
    chosen = [s.value for s in statuses] if statuses else ["active"]
    params = [("lifecycle-status", ",".join(chosen))]
    if date_from:
        params.append(("date-first-visit", f"ge{date_from}"))
    if date_to:
        params.append(("date-first-visit", f"lt{date_to}"))
    by_ref, none = await ctx.repo.count_by(ctx.who, "Patient", "location", params)
    counts = {ref.partition("/")[2]: n for ref, n in by_ref.items() if ref.startswith("Location/")}
    locations = await asyncio.gather(*(ctx.loaders.locations_by_id.load(lid) for lid in counts))
    items = []
    for (lid, n), loc in zip(counts.items(), locations, strict=True):
        if loc is None or loc.get("status", "active") != "active":
            none += n
            continue
        items.append(patient_t.LocationCount(location=common_t.EntityRef(id=lid, name=loc.get("name")), count=n))
    items.sort(key=lambda i: (-i.count, i.location.name or ""))
    return patient_t.PatientCountsByLocation(
        items=items, total=sum(i.count for i in items), excluded_count=none,
        statuses=[_STATUS[s] for s in chosen], date_from=date_from, date_to=date_to)


async def check_duplicates(info: Info, *, last_name: str, date_of_birth: str | None = None,
                           email: str | None = None, mobile_phone: str | None = None, ssn: str | None = None,
                           exclude: str | None = None) -> list[patient_t.PatientSummary]:
    """Seed 003 check-duplicates: any one signal (last name + DOB, email, mobile, SSN) flags a patient."""
    ctx = info.context
    searches: list[list[tuple[str, str]]] = []
    if last_name and date_of_birth:
        searches.append([("family", last_name), ("birthdate", date_of_birth)])
    if email:
        searches.append([("email", email)])
    if mobile_phone:
        searches.append([("phone", mobile_phone)])
    if ssn:
        searches.append([("identifier", f"{SSN_SYSTEM}|{ssn}")])
    pages = await asyncio.gather(*(ctx.repo.search(ctx.who, "Patient", p, count=50) for p in searches))
    seen: dict[str, Resource] = {}
    folded = keymod.fold(last_name)
    for params, page in zip(searches, pages, strict=True):
        for r in page.resources:
            if params[0][0] == "family" and keymod.fold(_names(r)[0].get("family") or "") != folded:
                continue  # FHIR string search is starts-with; the signal is the exact last name
            if r["id"] != exclude:
                seen.setdefault(r["id"], r)
    return [summary_from_fhir(r) for r in seen.values()]


# ---------------------------------------------------------------------------------------------- GraphQL → FHIR


def _set_name(res: Resource, f: dict[str, Any]) -> None:
    names = res.setdefault("name", [])
    official = next((n for n in names if n.get("use") in (None, "official")), None)
    if official is None:
        official = {"use": "official"}
        names.insert(0, official)
    given = list(official.get("given") or [])
    if "first_name" in f:
        given = [f["first_name"] or "", *given[1:]]
    if "middle_name" in f:
        given = [given[0] if given else "", *([f["middle_name"]] if f["middle_name"] else [])]
    given = [g for g in given if g]
    if given:
        official["given"] = given
    else:
        official.pop("given", None)
    if "last_name" in f:
        if f["last_name"]:
            official["family"] = f["last_name"]
        else:
            official.pop("family", None)
    if "title" in f:
        if f["title"]:
            official["prefix"] = [f["title"]]
        else:
            official.pop("prefix", None)
    if "preferred_name" in f:
        res["name"] = names = [n for n in names if n.get("use") != "nickname"]
        if f["preferred_name"]:
            nick: Resource = {"use": "nickname", "given": [f["preferred_name"]]}
            if official.get("family"):
                nick["family"] = official["family"]
            names.append(nick)


def _set_telecom(res: Resource, system: str, use: str | None, value: str | None) -> None:
    tel = [t for t in res.get("telecom") or () if not (t.get("system") == system and
                                                       (use is None or t.get("use") == use))]
    if value:
        entry = {"system": system, "value": value}
        if use:
            entry["use"] = use
        tel.append(entry)
    if tel:
        res["telecom"] = tel
    else:
        res.pop("telecom", None)


def _set_ident(res: Resource, system: str, value: str | None) -> None:
    ids = [i for i in res.get("identifier") or () if i.get("system") != system]
    if value:
        ids.append({"system": system, "value": value})
    if ids:
        res["identifier"] = ids
    else:
        res.pop("identifier", None)


def _enum(v: Any) -> Any:
    return getattr(v, "value", v)


def apply_fields(res: Resource, f: dict[str, Any]) -> Resource:
    """Apply the provided GraphQL input fields (PATCH semantics: absent = untouched, null = cleared)."""
    _set_name(res, f)
    if "date_of_birth" in f:
        _put(res, "birthDate", f["date_of_birth"])
    if "gender" in f:
        g = f["gender"]
        if g is not None and g not in ("male", "female", "other", "unknown"):
            raise Invalid("gender must be one of male, female, other, unknown", field="gender")
        _put(res, "gender", g)
    for key, system, use in (("email", "email", None), ("mobile_phone", "phone", "mobile"),
                             ("home_phone", "phone", "home"), ("work_phone", "phone", "work")):
        if key in f:
            _set_telecom(res, system, use, f[key])
    addr_keys = {"address_line1", "address_line2", "city", "state", "postal_code", "country"}
    if addr_keys & f.keys():
        addr = dict((res.get("address") or [{}])[0])
        lines = list(addr.get("line") or [])
        if "address_line1" in f:
            lines = [f["address_line1"] or "", *lines[1:]]
        if "address_line2" in f:
            lines = [lines[0] if lines else "", *([f["address_line2"]] if f["address_line2"] else [])]
        lines = [x for x in lines if x]
        if lines:
            addr["line"] = lines
        else:
            addr.pop("line", None)
        for key, fhir_key in (("city", "city"), ("state", "state"), ("postal_code", "postalCode"),
                              ("country", "country")):
            if key in f:
                _put(addr, fhir_key, f[key])
        res["address"] = [addr, *(res.get("address") or [])[1:]] if addr else (res.get("address") or [])[1:]
        if not res["address"]:
            del res["address"]
    if "marital_status" in f:
        ms = f["marital_status"]
        if ms is not None and ms not in MARITAL_CODE:
            raise Invalid(f"maritalStatus must be one of {', '.join(sorted(MARITAL_CODE))}",
                                  field="maritalStatus")
        _put(res, "maritalStatus", None if ms is None else
             {"coding": [{"system": V3_MARITAL, "code": MARITAL_CODE[ms]}], "text": ms})
    if "preferred_language" in f:
        lang = f["preferred_language"]
        _put(res, "communication", None if not lang else
             [{"language": {"coding": [{"system": BCP47, "code": lang}]}, "preferred": True}])
    for key, system in (("chart_number", SID["chart-number"]), ("mrn", SID["mrn"]),
                        ("social_security_number", SSN_SYSTEM), ("medicaid_id", MEDICAID_SYSTEM),
                        ("hsid", SID["hsid"])):
        if key in f:
            _set_ident(res, system, f[key])
    if "primary_provider_id" in f or "secondary_provider_id" in f:
        gp = list(res.get("generalPractitioner") or [])
        prim = f.get("primary_provider_id", ref_id(gp[0]) if gp else None)
        sec = f.get("secondary_provider_id", ref_id(gp[1]) if len(gp) > 1 else None)
        new = [{"reference": f"Practitioner/{p}"} for p in (prim, sec) if p]
        _put(res, "generalPractitioner", new or None)
    if "location_id" in f:
        lid = f["location_id"]
        set_ext(res, "patient-location", "valueReference", {"reference": f"Location/{lid}"} if lid else None)
    for key, name, vkey in (
        ("pronoun", "pronouns", "valueCode"), ("premedication_required", "premedication-required", "valueBoolean"),
        ("medical_urgent_note", "medical-urgent-note", "valueString"),
        ("allergy_review_status", "allergy-review-status", "valueCode"),
        ("preferred_contact_method", "preferred-contact-method", "valueCode"),
        ("preferred_confirmation_method", "preferred-confirmation-method", "valueCode"),
        ("receives_email", "receives-email", "valueBoolean"), ("receives_sms", "receives-sms", "valueBoolean"),
        ("consent_flags", "consent-flags", "valueInteger"), ("date_first_visit", "date-first-visit", "valueDate"),
    ):
        if key in f:
            set_ext(res, name, vkey, _enum(f[key]))
    if "date_time_deceased" in f:
        _put(res, "deceasedDateTime", f["date_time_deceased"])
        if f["date_time_deceased"]:
            res.pop("deceasedBoolean", None)
    if "emergency_contact_name" in f or "emergency_contact_phone" in f:
        contacts = [c for c in res.get("contact") or () if not _is_emergency(c)]
        old: Resource = next((c for c in res.get("contact") or () if _is_emergency(c)), {})
        name = f.get("emergency_contact_name", (old.get("name") or {}).get("text"))
        phone = f.get("emergency_contact_phone",
                      next((t.get("value") for t in old.get("telecom") or ()), None))
        if name or phone:
            c: Resource = {"relationship": [{"coding": [{"system": V2_CONTACT_ROLE, "code": "C",
                                                         "display": "Emergency Contact"}]}]}
            if name:
                c["name"] = {"text": name}
            if phone:
                c["telecom"] = [{"system": "phone", "value": phone}]
            contacts.append(c)
        _put(res, "contact", contacts or None)
    if "tags" in f:
        meta = res.setdefault("meta", {})
        kept = [t for t in meta.get("tag") or () if t.get("system") != CS["patient-tag"]]
        meta["tag"] = kept + [{"system": CS["patient-tag"], "code": t} for t in f["tags"] or ()]
        if not meta["tag"]:
            del meta["tag"]
    return res


def _is_emergency(contact: Resource) -> bool:
    return any(c.get("code") == "C" for r in contact.get("relationship") or () for c in r.get("coding") or ())


def _put(obj: Resource, key: str, value: Any) -> None:
    if value is None or value == [] or value == "":
        obj.pop(key, None)
    else:
        obj[key] = value


def set_status(res: Resource, status: str) -> None:
    set_ext(res, "patient-status", "valueCode", status)
    res["active"] = status not in ("inactive", "archived")
    if status == "deceased" and not res.get("deceasedDateTime"):
        res["deceasedBoolean"] = True


def provided(inp: Any) -> dict[str, Any]:
    """The fields a client actually sent (strawberry leaves the others UNSET)."""
    return {k: v for k, v in vars(inp).items() if v is not strawberry.UNSET}


# ---------------------------------------------------------------------------------------------- mutations


async def create_patient(info: Info, inp: Any) -> patient_t.CreatePatientPayload:
    f = provided(inp)
    if not (f.get("first_name") or "").strip() or not (f.get("last_name") or "").strip():
        raise Invalid("firstName and lastName are required", field="firstName")
    status = _enum(f.pop("status", None)) or "active"
    if status == "archived":
        raise Invalid("A patient cannot be created archived", field="status")
    res: Resource = {"resourceType": "Patient", "id": str(uuid.uuid4())}
    apply_fields(res, f)
    set_status(res, status)
    if "allergy_review_status" not in f:
        set_ext(res, "allergy-review-status", "valueCode", "not_reviewed")
    dups = await check_duplicates(info, last_name=f["last_name"], date_of_birth=f.get("date_of_birth"),
                                  email=f.get("email"), mobile_phone=f.get("mobile_phone"),
                                  ssn=f.get("social_security_number"))
    ctx = info.context
    written = await ctx.repo.create(ctx.who, res, keep_id=True)
    return patient_t.CreatePatientPayload(patient=from_fhir(written.resource), potential_duplicates=dups)


async def _write(info: Info, res: Resource, base_version: int | None) -> patient_t.Patient:
    ctx = info.context
    written = await ctx.repo.update(ctx.who, "Patient", res["id"], res,
                                    if_match=str(base_version) if base_version is not None else None)
    ctx.loaders.prime(ctx.loaders.patients_by_id, res["id"], written.resource)
    return from_fhir(written.resource)


async def _current(info: Info, pid: str) -> Resource:
    ctx = info.context
    try:
        return await ctx.repo.read(ctx.who, "Patient", str(pid))
    except Invalid as exc:
        raise NotFound(f"Patient {pid} not found") from exc


async def update_patient(info: Info, pid: str, base_version: int, inp: Any) -> patient_t.Patient:
    res = await _current(info, pid)
    f = provided(inp)
    for required in ("first_name", "last_name"):
        if required in f and not (f[required] or "").strip():
            raise Invalid(f"{required} cannot be cleared", field=required)
    apply_fields(res, f)
    return await _write(info, res, base_version)


async def transition_status(info: Info, pid: str, base_version: int, new_status: Any) -> patient_t.Patient:
    res = await _current(info, pid)
    target = _enum(new_status)
    current = patient_status(res) or "active"
    if target == "archived":
        raise InvalidTransition("Use archivePatient to archive a patient", current=current, target=target)
    if target == current:
        raise InvalidTransition(f"The patient is already {current}", current=current, target=target)
    if target not in TRANSITIONS.get(current, set()):
        raise InvalidTransition(f"A patient cannot go from {current} to {target}", current=current, target=target)
    set_status(res, target)
    return await _write(info, res, base_version)


async def archive_patient(info: Info, pid: str, base_version: int | None) -> patient_t.Patient:
    ctx = info.context
    res = await _current(info, pid)
    if (patient_status(res) or "active") == "archived":
        raise Invalid("The patient is already archived")
    page = await ctx.repo.search(ctx.who, "Account", [("guarantor", f"Patient/{pid}")], count=100)
    dependents = {ref_id(s, "Patient") for acc in page.resources for s in acc.get("subject") or ()} - {pid, None}
    if dependents:
        found = await ctx.repo.read_many(ctx.who, "Patient", [d for d in dependents if d])
        active = [d for d in found.values() if (patient_status(d) or "active") in ("active", "prospective")]
        if active:
            raise Invalid("The patient is the guarantor of active dependents; reassign the guarantor first",
                                  dependents=len(active))
    set_status(res, "archived")
    return await _write(info, res, base_version)


async def restore_patient(info: Info, pid: str, base_version: int | None) -> patient_t.Patient:
    res = await _current(info, pid)
    if (patient_status(res) or "active") != "archived":
        raise Invalid("The patient is not archived")
    set_status(res, "inactive")
    return await _write(info, res, base_version)


__all__ = ["from_fhir", "get_patient", "list_patients", "date_part", "EXT"]
