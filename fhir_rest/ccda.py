"""A C-CDA R2.1 Continuity of Care Document (CCD) of FHIR resources, for ``$docref`` (fhir_rest/docref.py).

The US Realm Header (templateId 2.16.840.1.113883.10.20.22.1.1) and the CCD document template
(2.16.840.1.113883.10.20.22.1.2), the patient's demographics in ``recordTarget``, the period covered in
``documentationOf/serviceEvent``, and one section per ``Section`` with its C-CDA template, LOINC code and a
narrative table of its resources; a section with nothing in it says so (``nullFlavor="NI"``). The sections carry
narrative only, no coded entries. The XML is built with ElementTree (escaping is the library's).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from store.fhirjson import text_of
from store.types import Resource

V3 = "urn:hl7-org:v3"
LOINC = "2.16.840.1.113883.6.1"
ET.register_namespace("", V3)


@dataclass(frozen=True)
class Kind:
    """A CCD section: its title, LOINC code and template (OID, extension)."""

    title: str
    code: str
    template: str
    extension: str | None = None


@dataclass
class Section:
    kind: Kind
    rows: list[list[str]] = field(default_factory=list)  # one row per resource, under ``header``
    header: tuple[str, ...] = ("Item", "Status", "Date")
    note: str | None = None  # why a section is empty or partial


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, f"{{{V3}}}{tag}", attrs)
    if text is not None:
        node.text = text
    return node


def ts(value: str | None) -> str | None:
    """A FHIR date/dateTime as an HL7 v3 TS (``20240131`` or ``20240131093000+0000``)."""
    if not value:
        return None
    if len(value) <= 10:
        return value.replace("-", "")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.strftime("%Y%m%d%H%M%S%z") if moment.tzinfo else moment.strftime("%Y%m%d%H%M%S")


def document(patient: Resource, sections: list[Section], *, doc_id: str, now: str, start: str | None,
             end: str | None, custodian: str) -> bytes:
    """The CCD of ``patient`` with ``sections``, as UTF-8 XML."""
    root = ET.Element(f"{{{V3}}}ClinicalDocument")
    _el(root, "realmCode", code="US")
    _el(root, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
    _el(root, "templateId", root="2.16.840.1.113883.10.20.22.1.1", extension="2015-08-01")
    _el(root, "templateId", root="2.16.840.1.113883.10.20.22.1.2", extension="2015-08-01")
    _el(root, "id", root="2.25", extension=doc_id)
    _el(root, "code", code="34133-9", codeSystem=LOINC, codeSystemName="LOINC",
        displayName="Summarization of Episode Note")
    _el(root, "title", "Continuity of Care Document")
    _el(root, "effectiveTime", value=ts(now) or "")
    _el(root, "confidentialityCode", code="N", codeSystem="2.16.840.1.113883.5.25")
    _el(root, "languageCode", code="en-US")
    _record_target(root, patient)
    author = _el(root, "author")
    _el(author, "time", value=ts(now) or "")
    assigned = _el(author, "assignedAuthor")
    _el(assigned, "id", nullFlavor="NA")
    _el(_el(assigned, "assignedAuthoringDevice"), "softwareName", "fhirgraph")
    organization = _el(_el(_el(root, "custodian"), "assignedCustodian"), "representedCustodianOrganization")
    _el(organization, "id", nullFlavor="NA")
    _el(organization, "name", custodian)
    event = _el(_el(root, "documentationOf"), "serviceEvent", classCode="PCPR")
    period = _el(event, "effectiveTime")
    _el(period, "low", **({"value": ts(start) or ""} if start else {"nullFlavor": "UNK"}))
    _el(period, "high", **({"value": ts(end) or ""} if end else {"value": ts(now) or ""}))
    body = _el(_el(root, "component"), "structuredBody")
    for section in sections:
        _section(_el(_el(body, "component"), "section"), section)
    out: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return out


def _record_target(root: ET.Element, patient: Resource) -> None:
    role = _el(_el(root, "recordTarget"), "patientRole")
    for identifier in patient.get("identifier") or ():
        if isinstance(identifier, dict) and identifier.get("value"):
            _el(role, "id", root="2.25", extension=str(identifier["value"]),
                assigningAuthorityName=str(identifier.get("system", "")))
    _el(role, "id", root="2.25", extension=f"Patient/{patient.get('id')}")
    for address in patient.get("address") or ():
        if isinstance(address, dict):
            addr = _el(role, "addr", use="HP")
            for line in address.get("line") or ():
                _el(addr, "streetAddressLine", str(line))
            for part, tag in (("city", "city"), ("state", "state"), ("postalCode", "postalCode"),
                              ("country", "country")):
                if address.get(part):
                    _el(addr, tag, str(address[part]))
    for telecom in patient.get("telecom") or ():
        if isinstance(telecom, dict) and telecom.get("value"):
            scheme = {"phone": "tel:", "email": "mailto:"}.get(str(telecom.get("system")), "")
            _el(role, "telecom", value=f"{scheme}{telecom['value']}")
    person = _el(role, "patient")
    for name in patient.get("name") or ():
        if isinstance(name, dict):
            pn = _el(person, "name", use="L" if name.get("use") in (None, "official") else "P")
            for given in name.get("given") or ():
                _el(pn, "given", str(given))
            if name.get("family"):
                _el(pn, "family", str(name["family"]))
    gender = {"male": "M", "female": "F"}.get(str(patient.get("gender")))
    _el(person, "administrativeGenderCode",
        **({"code": gender, "codeSystem": "2.16.840.1.113883.5.1"} if gender else {"nullFlavor": "UNK"}))
    birth = ts(patient.get("birthDate"))
    _el(person, "birthTime", **({"value": birth} if birth else {"nullFlavor": "UNK"}))


def _section(node: ET.Element, section: Section) -> None:
    kind = section.kind
    if not section.rows:
        node.set("nullFlavor", "NI")
    _el(node, "templateId", root=kind.template, **({"extension": kind.extension} if kind.extension else {}))
    _el(node, "code", code=kind.code, codeSystem=LOINC, codeSystemName="LOINC", displayName=kind.title)
    _el(node, "title", kind.title)
    text = _el(node, "text")
    if not section.rows:
        _el(text, "paragraph", section.note or "No information")
        return
    table = _el(text, "table", border="1", width="100%")
    head = _el(_el(table, "thead"), "tr")
    for name in section.header:
        _el(head, "th", name)
    rows = _el(table, "tbody")
    for row in section.rows:
        tr = _el(rows, "tr")
        for cell in row:
            _el(tr, "td", cell)
    if section.note:
        _el(text, "paragraph", section.note)


def label(concept: Any) -> str:
    """What a CodeableConcept says, for a narrative cell."""
    found = text_of(concept)
    if found:
        return found
    if isinstance(concept, dict):
        for coding in concept.get("coding") or ():
            if isinstance(coding, dict) and coding.get("code"):
                return f"{coding.get('display') or coding['code']}"
    return ""
