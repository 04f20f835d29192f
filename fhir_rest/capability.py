"""The CapabilityStatement (FHIR R4 §3.1.0.14 capabilities), generated from the code that serves it:
the types come from the resource-type registry (store/params.py), the parameters from its entries, the
interactions from what the endpoints allow. Nothing here is hand-listed twice."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from auth.policy import AUDIT_WRITERS
from auth.scopes import NAMED_ONLY
from store.params import APPEND_ONLY, PARAMS, param_table

SOFTWARE_VERSION = "0.1.0"
ALL_INTERACTIONS = ("read", "vread", "update", "patch", "delete", "history-instance", "history-type",
                    "create", "search-type")
SPEC_URLS = {
    "_id": "http://hl7.org/fhir/SearchParameter/Resource-id",
    "_lastUpdated": "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
    "_tag": "http://hl7.org/fhir/SearchParameter/Resource-tag",
    "_profile": "http://hl7.org/fhir/SearchParameter/Resource-profile",
    "_security": "http://hl7.org/fhir/SearchParameter/Resource-security",
}


# rest.resource.documentation of the types with scope rules of their own (auth/scopes.py ``NAMED_ONLY``, the
# audit trail's writers in auth/policy.py).
RESOURCE_DOCUMENTATION = {
    "AuditEvent": "The clinic's PHI audit trail (IHE BALP), append-only. Reading and searching it (and _include, "
                  "_revinclude, $everything's _type and Bulk export of it) needs a scope naming AuditEvent "
                  "(user/AuditEvent.rs, system/AuditEvent.rs, or their v1 .read) or a system/ wildcard "
                  "(system/*.rs: the clinic's own backend services and API keys); patient/* and user/* wildcards "
                  "do not grant it. Appending to it (an import) needs "
                  + " or ".join(sorted(AUDIT_WRITERS)) + ".",
}


# The operations served (fhir_rest/routes.py), by the type they are invoked on (None: the system level), with their
# definitions; tests/fhir_rest/test_capability.py holds this table and the route table to each other.
BULK = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/"
CORE = "http://hl7.org/fhir/OperationDefinition/"
VALIDATE = {"name": "validate", "definition": CORE + "Resource-validate"}
TYPE_OPERATIONS: dict[str, list[dict[str, str]]] = {
    "Patient": [{"name": "export", "definition": BULK + "patient-export"},
                {"name": "everything", "definition": CORE + "Patient-everything",
                 "documentation": "GET|POST [base]/Patient/[id]/$everything: the patient's compartment, paged (_count, "
                                  "next links); _since, _type (AuditEvent only when named). Each type under the "
                                  "caller's scopes for it"}],
    "Group": [{"name": "export", "definition": BULK + "group-export"}],
    "DocumentReference": [{"name": "docref", "definition": "http://hl7.org/fhir/us/core/OperationDefinition/docref",
                           "documentation": "GET|POST [base]/DocumentReference/$docref?patient=&start=&end=&type=: "
                                            "the patient's CCD (C-CDA R2.1) generated on demand and stored as a "
                                            "DocumentReference and Binary; start/end bound the encounter-related "
                                            "sections (seed 004)"}],
}
SYSTEM_OPERATIONS = [
    {"name": "export", "definition": BULK + "export"},
    {"name": "bulkdata-status", "definition": "https://fhirgraph.dev/fhir/OperationDefinition/bulkdata-status",
     "documentation": "Bulk Data status of a job: [base]/$bulkdata-status?job=ID (seed 004); DELETE cancels it. "
                      "Files at [base]/Document/[id]/Binary"},
]
SEARCH_DOCUMENTATION = (
    "Chained parameters up to three references deep on every reference parameter ([reference]:[type].[parameter], "
    "or [reference].[parameter] over every target type having it; e.g. subject:Patient.general-practitioner.name) "
    "and reverse chaining one level (_has:[type]:[reference]:[parameter]), each level resolving to at most 1,000 "
    "intermediate resources (more: 400); _include and _revinclude "
    "with :iterate, three rounds deep. Unknown parameters are ignored (the self link shows what was applied) "
    "unless Prefer: handling=strict. FHIR JSON only: another _format or Accept is a 406.")


def _chainable(targets: tuple[str, ...]) -> str:
    chained = [t for t in targets if t in PARAMS]
    return ("Chainable (up to three references deep) to the parameters of " + ", ".join(chained) if chained else
            "Chainable with the target type named ([name]:[type].[parameter])")


def interactions_for(rt: str) -> tuple[str, ...]:
    if rt in APPEND_ONLY:
        return tuple(i for i in ALL_INTERACTIONS if i not in ("update", "patch", "delete"))
    return ALL_INTERACTIONS


def capability_statement(base: str, origin: str) -> dict[str, Any]:
    """The statement for a server at ``base`` (its authorization server under ``origin``/auth). What does not
    depend on the base is built once: the cache cannot be filled, or one caller's base be served to another,
    whatever Host headers arrive."""
    statement = _statement()
    rest = {**statement["rest"][0], "security": security(origin)}
    return {**statement, "implementation": {**statement["implementation"], "url": base}, "rest": [rest]}


def security(origin: str) -> dict[str, Any]:
    """``rest.security``: SMART on FHIR (its service coding and the oauth-uris extension, SMART App Launch 1.0
    §2.2, still read by SMART v1 clients such as fhirclient beside ``.well-known/smart-configuration``)."""
    auth = origin + "/auth"
    uris = [("authorize", "authorize"), ("token", "token"), ("introspect", "introspect"), ("revoke", "revoke")]
    return {
        "cors": True,
        "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                 "code": "SMART-on-FHIR"}], "text": "OAuth2 using SMART-on-FHIR profile"}],
        "description": "OAuth 2.0 bearer tokens (SMART App Launch and Backend Services) or an API key in "
                       "X-API-Key; discovery at .well-known/smart-configuration. SMART v1 and v2 scopes; the "
                       "audit trail (" + ", ".join(sorted(NAMED_ONLY)) + ") only for a scope naming it or a "
                       "system/ one, never for a patient/* or user/* wildcard",
        "extension": [{"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                       "extension": [{"url": name, "valueUri": f"{auth}/{path}"} for name, path in uris]}],
    }


@lru_cache(maxsize=1)
def _statement() -> dict[str, Any]:
    resources = []
    for rt in sorted(PARAMS):
        table = param_table(rt)
        refs = [p for p in table.values() if p.type == "reference"]
        resources.append({
            "type": rt,
            "profile": f"http://hl7.org/fhir/StructureDefinition/{rt}",
            "interaction": [{"code": i} for i in interactions_for(rt)],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": rt not in APPEND_ONLY,
            "conditionalCreate": True,
            "conditionalRead": "not-supported",
            "conditionalUpdate": rt not in APPEND_ONLY,
            "conditionalDelete": "not-supported" if rt in APPEND_ONLY else "single",
            "searchInclude": [f"{rt}:{p.name}" for p in refs],
            "searchRevInclude": sorted({f"{src}:{p.name}" for src in PARAMS for p in param_table(src).values()
                                        if p.type == "reference" and (not p.targets or rt in p.targets)}),
            "searchParam": [
                {"name": p.name, "type": p.type,
                 **({"definition": SPEC_URLS[p.name]} if p.name in SPEC_URLS else {}),
                 **({"documentation": _chainable(p.targets)} if p.type == "reference" else {})}
                for p in table.values()
            ],
            "operation": [*TYPE_OPERATIONS.get(rt, ()), VALIDATE],
            **({"documentation": RESOURCE_DOCUMENTATION[rt]} if rt in RESOURCE_DOCUMENTATION else {}),
        })
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-21",
        "publisher": "fhirgraph",
        "kind": "instance",
        "software": {"name": "fhirgraph", "version": SOFTWARE_VERSION},
        "implementation": {"description": "fhirgraph FHIR R4 server", "url": ""},
        "fhirVersion": "4.0.1",
        "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [{
            "mode": "server",
            "resource": resources,
            # POST [base] (fhir_rest/batches.py)
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
            "documentation": SEARCH_DOCUMENTATION,
            "operation": SYSTEM_OPERATIONS,
            "searchParam": [
                *({"name": n, "type": t} for n, t in (("_count", "number"), ("_sort", "string"),
                                                      ("_summary", "token"), ("_elements", "string"),
                                                      ("_total", "token"))),
                {"name": "_has", "type": "special", "definition": "http://hl7.org/fhir/R4/search.html#has",
                 "documentation": "_has:[type]:[reference]:[parameter]=[value], one level"}],
        }],
    }
