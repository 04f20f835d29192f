"""A bounded, deterministic fuzz of the FHIR REST door: mutated bodies, query parameters and headers against
the live app. Whatever arrives, the answer is never a 5xx, and every error is an OperationOutcome.

Bodies start from the builders in tests/factories.py and are mutated (fields dropped, duplicated, retyped,
nulled, made huge, filled with nested garbage); searches try every search parameter of a type (as the
CapabilityStatement lists them) with junk values, modifiers and prefixes, and the result parameters
(``_count``, ``_sort``, ``_cursor``, ``_elements``, ``_summary``, ``_include`` …); headers get junk too. A failure
prints the request that caused it, to replay by hand.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import os
import random
import string
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.factories import make_allergy, make_appointment, make_observation, make_patient, make_practitioner

SEED = int(os.environ.get("FUZZ_SEED", "20261201"))
REQUESTS = int(os.environ.get("FUZZ_REQUESTS", "600"))
BUDGET_S = 20.0
CONCURRENCY = 8

TYPES = ("Patient", "Practitioner", "Appointment", "Observation", "AllergyIntolerance", "Encounter", "Claim",
         "Communication", "AuditEvent", "Binary")


def valid_bodies() -> dict[str, Callable[[], dict[str, Any]]]:
    return {
        "Patient": make_patient,
        "Practitioner": make_practitioner,
        "Appointment": lambda: make_appointment("p-1", practitioner_id="pr-1"),
        "Observation": lambda: make_observation("p-1"),
        "AllergyIntolerance": lambda: make_allergy("p-1"),
        "Encounter": lambda: {"resourceType": "Encounter", "status": "in-progress",
                              "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
                              "subject": {"reference": "Patient/p-1"},
                              "period": {"start": "2026-04-13T08:30:00Z"}},
        "Claim": lambda: {"resourceType": "Claim", "status": "draft", "use": "claim", "created": "2026-03-01",
                          "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                                               "code": "professional"}]},
                          "patient": {"reference": "Patient/p-1"}, "provider": {"reference": "Organization/o-1"},
                          "priority": {"coding": [{"code": "normal"}]},
                          "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/c-1"}}]},
        "Communication": lambda: {"resourceType": "Communication", "status": "completed",
                                  "subject": {"reference": "Patient/p-1"},
                                  "payload": [{"contentString": "Called about the results"}]},
        "AuditEvent": lambda: {"resourceType": "AuditEvent", "recorded": "2026-01-01T00:00:00Z",
                               "type": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110110"},
                               "agent": [{"requestor": True, "who": {"display": "tester"}}],
                               "source": {"observer": {"display": "fhirgraph"}}},
        "Binary": lambda: {"resourceType": "Binary", "contentType": "text/plain", "data": "aGVsbG8="},
    }


JUNK_STRINGS = ["", " ", "null", "None", "undefined", "0", "-1", "1e309", "NaN", "true", "[]", "{}", "\\", "'", '"',
                "%00", "\x00", "\u202e", "\U0001f600", "é", "a" * 5000, "$where", '{"$gt": ""}', "../../etc",
                "Patient/../../x", "Patient/", "/", "|", "||", "a|b|c", "http://x|", "<script>", "2026-13-45",
                "2026-02-30T25:61:61Z", "9999999999999999999999", "ge", "eq2026", "ap", "sa2026-01-01", "le-5",
                "gt", ",", ",,,", "*", "_", "$", ":", "::", "Patient:missing", "%", "%zz", "\t\n",
                "²", "٣", "1_0", "nan", "inf", "9" * 5000]


def junk(rng: random.Random) -> Any:
    """A JSON value of a random kind, sometimes deeply nested garbage."""
    kind = rng.randrange(12)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 2**31, 2**63 - 1, -(2**63), 2**64 - 1, 1.5, -0.0, 1e308, 10**30])
    if kind == 3:
        return rng.choice([*JUNK_STRINGS, "\ud800", "a\udfffb"])  # lone surrogates: JSON escapes only
    if kind == 4:
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(1, 40)))
    if kind == 5:
        return "x" * rng.choice([10_000, 100_000, 400_000])
    if kind == 6:
        return []
    if kind == 7:
        return {}
    if kind == 8:
        return [junk(rng) for _ in range(rng.randrange(1, 4))]
    if kind == 9:
        return {rng.choice(["url", "value", "extension", "_x", "resourceType", "id", "$gt", "reference",
                            "system", "code", ""]): junk(rng) for _ in range(rng.randrange(1, 4))}
    if kind == 10:
        deep: Any = rng.choice([1, "x", None, {}])
        for _ in range(rng.choice([50, 300, 1100])):
            deep = {"extension": [deep]} if rng.random() < 0.5 else [deep]
        return deep
    return {"url": "http://example.org/x", "valueString": junk(rng)}


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if len(prefix) > 12:  # garbage nests deeper than any resource: mutate its top only
        return out
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(paths_of(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(paths_of(v, (*prefix, i)))
    return out


def parent_of(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


def duplicate(value: Any) -> Any:
    try:
        return copy.deepcopy(value)
    except RecursionError:
        return value


def mutate(rng: random.Random, body: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    for _ in range(rng.randrange(1, 4)):
        paths = paths_of(body)
        if not paths:
            break
        path = rng.choice(paths)
        parent, key = parent_of(body, path), path[-1]
        op = rng.randrange(8)
        if op >= 6 and isinstance(parent[key], str):  # another string: often still valid, so stored and indexed
            parent[key] = rng.choice([*JUNK_STRINGS, "Ñandú Øresund", "李小龙", "x" * 20_000, "O'Brien-Smith",
                                      "  padded  ", "a\u0301", "ß", "İstanbul"])
        elif op == 0:  # drop
            del parent[key]
        elif op == 1 and isinstance(parent, dict):  # duplicate under a twin or a neighbour's name
            parent[rng.choice([f"_{key}", f"{key}2", f"{key}[x]", str(key).upper()])] = duplicate(parent[key])
        elif op == 1:
            parent.append(duplicate(parent[key]))
        else:  # retype, null, huge, garbage
            parent[key] = junk(rng)
    if rng.random() < 0.3:
        body[rng.choice(["meta", "id", "resourceType", "text", "extension", "contained", "_id", "modifierExtension",
                         "implicitRules", "language"])] = junk(rng)
    if rng.random() < 0.15:
        body["meta"] = {rng.choice(["extension", "tag", "security", "profile", "versionId", "lastUpdated",
                                    "source"]): junk(rng)}
    return body


def with_duplicate_keys(rng: random.Random, body: dict[str, Any]) -> bytes:
    """JSON with a key twice (the later one wins in most parsers)."""
    raw = encode(body)
    if not body or not raw.endswith(b"}"):
        return raw
    return raw[:-1] + b", " + encode(rng.choice(list(body))) + b": " + encode(junk(rng)) + b"}"


def encode(value: Any) -> bytes:
    try:
        return json.dumps(value).encode("utf-8", "surrogatepass")
    except (ValueError, RecursionError):  # nested deeper than the json module goes: garbage of that depth
        return b'{"resourceType": "Patient", "extension": ' + b"[" * 1100 + b"]" * 1100 + b"}"


MODIFIERS = ["", ":exact", ":contains", ":missing", ":not", ":above", ":below", ":in", ":not-in", ":text",
             ":identifier", ":of-type", ":Patient", ":bogus", ":", "::", ":missing:exact"]
PREFIXES = ["", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap", "xx", "gege"]
VALUES = ["2026-01-01", "2026", "2026-01-01T00:00:00Z", "female", "http://loinc.org|1234-5", "|x", "x|", "Patient/p-1",
          "p-1", "Reyes", "true", "false", "12", "1.5e3", "-0", *JUNK_STRINGS[:30]]


def b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def cursors(rng: random.Random) -> str:
    return rng.choice([
        "", "x", "====", "%%%", b64({"$where": "sleep(1)"}), b64([{"$exists": True}, "x"]), b64([1, 2, 3]),
        b64({"v": [{"$gt": ""}], "id": {"$ne": None}}), b64("string"), b64(None), "a" * 3000,
        base64.b64encode(b"\xff\xfe\x00").decode(), b64([[None], "tenant-a/x"]),
    ])


def search_params(rng: random.Random, params: list[tuple[str, str]], rt: str,
                  refs: list[str]) -> list[tuple[str, str]]:
    query: list[tuple[str, str]] = []
    for name, _type in rng.sample(params, k=min(len(params), rng.randrange(1, 4))):
        if rng.random() < 0.4:  # plausible: reaches the store and the Bundle more often
            query.append((name, rng.choice(VALUES[:15])))
        else:
            query.append((name + rng.choice(MODIFIERS), rng.choice(PREFIXES) + rng.choice(VALUES)))
    if rng.random() < 0.5:
        query.append(("_count", rng.choice(["0", "1", "2", "5", "20", "-1", "1e3", "abc", "", "99999999999999999999",
                                            " 3", "²", "٣", "9" * 5000])))
    if rng.random() < 0.4:
        names = [n for n, _ in params]
        query.append(("_sort", rng.choice(["", ",", "-", "--name", "_id", "-_lastUpdated", "bogus",
                                           ",".join(rng.sample(names, k=min(3, len(names)))),
                                           "-" + rng.choice(names), "name:asc"])))
    if rng.random() < 0.3:
        query.append((rng.choice(["_cursor", "_before"]), cursors(rng)))
    if rng.random() < 0.3:
        query.append(("_elements", rng.choice(["", ",", "id", "name,gender", "meta.tag", "x" * 500, "*", ".."])))
    if rng.random() < 0.3:
        query.append(("_summary", rng.choice(["true", "false", "text", "data", "count", "", "bogus", "TRUE"])))
    if rng.random() < 0.3:
        query.append((rng.choice(["_include", "_revinclude"]),
                      rng.choice(["", "*", f"{rt}:*", f"{rt}:patient", f"{rt}:subject:Patient", "Provenance:target",
                                  "Unicorn:x", ":", "::", f"{rt}:bogus", *refs])))
    if rng.random() < 0.2:
        query.append(("_total", rng.choice(["accurate", "none", "estimate", "bogus", ""])))
    if rng.random() < 0.1:
        query.append((rng.choice(["_bogus", "", "=", "a b", "_id:missing", "_has:Observation:patient:code"]),
                      rng.choice(VALUES)))
    return query


def junk_headers(rng: random.Random) -> dict[str, str]:
    def printable(n: int) -> str:
        # h11 refuses to send a value with whitespace at either end
        return "".join(rng.choice(string.ascii_letters + string.digits + string.punctuation + " ")
                       for _ in range(n)).strip()

    pool: dict[str, list[str | bytes]] = {
        "If-Match": ['W/"1"', 'W/"0"', '"1"', "1", 'W/"abc"', "*", "", 'W/"' + "9" * 40 + '"', printable(30),
                     'W/"²"'.encode()],
        "If-None-Exist": ["identifier=x|y", "", "?", "_id=", "bogus=1", "family:exact=Reyes&_count=abc",
                          "_cursor=" + b64({"$gt": ""}), printable(40)],
        "If-None-Match": ['W/"1"', "*", printable(10)],
        "Content-Type": ["application/fhir+json", "application/json; charset=latin-1", "text/plain", "",
                         "application/xml", "multipart/form-data; boundary=x", "application/json-patch+json",
                         "application/x-www-form-urlencoded", "image/png", printable(20), "a/b/c", "*/*"],
        "Accept": ["application/fhir+json", "*/*", "image/png", "text/html", "", printable(20),
                   "application/fhir+xml", "application/octet-stream;q=0.5, */*;q=0.1"],
        "Prefer": ["return=minimal", "return=representation", "return=OperationOutcome", "handling=lenient",
                   "handling=strict", "respond-async", "", printable(20)],
        "Idempotency-Key": ["k", "", "x" * 300, printable(50), "same-key"],
        "X-Security-Context": ["Patient/p-1", "", printable(30)],
    }
    names = rng.sample(list(pool), k=rng.randrange(0, 4))
    return {name: rng.choice(pool[name]) for name in names}


@dataclass
class Request:
    method: str
    url: str
    params: list[tuple[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None

    def describe(self) -> str:
        body = (self.content or b"")[:300]
        return f"{self.method} {self.url} params={self.params!r:.300} headers={self.headers!r:.300} body={body!r}"


class Fuzzer:
    def __init__(self, rng: random.Random, search: dict[str, list[tuple[str, str]]], ids: dict[str, str]):
        self.rng, self.search, self.ids = rng, search, ids
        self.bodies = valid_bodies()

    def request(self) -> Request:
        rng = self.rng
        rt = rng.choice(TYPES)
        rid = self.ids.get(rt, "missing-1")
        kind = rng.randrange(10)
        headers = junk_headers(rng)
        if kind <= 2:  # create
            body = mutate(rng, self.bodies[rt]()) if rng.random() < 0.9 else self.bodies[rt]()
            content = with_duplicate_keys(rng, body) if rng.random() < 0.1 else encode(body)
            headers.setdefault("Content-Type", "application/fhir+json")
            return Request("POST", f"/{rt}", headers=headers, content=content)
        if kind <= 4:  # update
            base = {**self.bodies[rt](), "id": rid}
            body = mutate(rng, base) if rng.random() < 0.85 else base
            target = rng.choice([rid, rid, "other-id", "bad$id", "x" * 70, "..", "_history"])
            headers.setdefault("Content-Type", "application/fhir+json")
            return Request("PUT", f"/{rt}/{target}", headers=headers, content=encode(body))
        if kind == 5:  # patch
            ops = [{"op": rng.choice(["add", "remove", "replace", "move", "copy", "test", "bogus"]),
                    "path": rng.choice(["/gender", "/meta/tag", "/id", "/resourceType", "/name/0/given/-",
                                        "/status", "", "/", "/~1", "/meta/extension", "/extension/-"]),
                    "value": junk(rng), "from": rng.choice(["/name", "/x", ""])}
                   for _ in range(rng.randrange(1, 4))]
            patch: Any = ops if rng.random() < 0.85 else junk(rng)
            headers.setdefault("Content-Type", "application/json-patch+json")
            return Request("PATCH", f"/{rt}/{rid}", headers=headers, content=encode(patch))
        if kind <= 7:  # search, GET or POST _search
            query = search_params(rng, self.search.get(rt, [("_id", "token")]), rt,
                                  [f"{rt}:{n}" for n, t in self.search.get(rt, []) if t == "reference"])
            if rng.random() < 0.2:
                headers["Content-Type"] = rng.choice(["application/x-www-form-urlencoded", "text/plain"])
                content = "&".join(f"{k}={v}" for k, v in query).encode("utf-8", "surrogatepass")
                return Request("POST", f"/{rt}/_search", headers=headers, content=content)
            return Request("GET", f"/{rt}", params=query, headers=headers)
        if kind == 8:  # read, vread, history
            query = [(rng.choice(["_summary", "_elements", "_count", "_since", "_cursor", "_format", "x"]),
                      rng.choice(["true", "text", "data", "count", "id,meta", "", "2026-01-01", "bogus",
                                  cursors(rng)])) for _ in range(rng.randrange(0, 3))]
            path = rng.choice([f"/{rt}/{rid}", f"/{rt}/{rid}/_history", f"/{rt}/{rid}/_history/1",
                               f"/{rt}/{rid}/_history/abc", f"/{rt}/_history", f"/{rt}/missing-x", f"/{rt}/a%00b",
                               f"/{rt}/{'z' * 65}", "/metadata", f"/{rt.lower()}/{rid}", "/Unicorn/1"])
            return Request(rng.choice(["GET", "GET", "HEAD"]), path, params=query, headers=headers)
        target = rng.choice([f"/{rt}/missing-x", f"/{rt}/bad$id", f"/{rt}", "/metadata"])
        if rt in ("AuditEvent", "Communication"):
            target = f"/{rt}/{rid}"
        return Request(rng.choice(["DELETE", "OPTIONS", "TRACE", "PUT", "POST"]), target, headers=headers)


def check(request: Request, response: httpx.Response) -> str | None:
    """What is wrong with the answer, or None."""
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:300]}"
    if response.status_code < 400 or request.method == "HEAD":
        return None
    ctype = response.headers.get("content-type", "")
    if not ctype.startswith("application/fhir+json"):
        return f"{response.status_code} with Content-Type {ctype!r}"
    try:
        outcome = response.json()
    except ValueError:
        return f"{response.status_code} with a body that is not JSON: {response.text[:200]}"
    if outcome.get("resourceType") != "OperationOutcome" or not outcome.get("issue"):
        return f"{response.status_code} that is no OperationOutcome: {response.text[:200]}"
    return None


async def seed_ids(fhir: httpx.AsyncClient) -> dict[str, str]:
    """An existing resource of each type, so that updates, patches and reads meet real ones."""
    ids: dict[str, str] = {}
    for rt, make in valid_bodies().items():
        r = await fhir.post(f"/{rt}", json=make())
        assert r.status_code == 201, (rt, r.text[:300])
        ids[rt] = r.json()["id"]
    return ids


async def test_fuzz_the_fhir_door(fhir: httpx.AsyncClient) -> None:
    statement = (await fhir.get("/metadata")).json()
    search = {res["type"]: [(p["name"], p["type"]) for p in res.get("searchParam", [])]
              for res in statement["rest"][0]["resource"]}
    fuzzer = Fuzzer(random.Random(SEED), search, await seed_ids(fhir))
    requests = [fuzzer.request() for _ in range(REQUESTS)]
    failures: list[str] = []
    started = time.monotonic()
    sem = asyncio.Semaphore(CONCURRENCY)
    seen: Counter[tuple[str, int]] = Counter()

    async def send(request: Request) -> None:
        async with sem:
            try:
                response = await fhir.request(request.method, request.url, params=request.params,
                                              headers=request.headers, content=request.content)
            except httpx.HTTPError as exc:
                failures.append(f"{type(exc).__name__} for {request.describe()}")
                return
            seen[(request.method, response.status_code)] += 1
            problem = check(request, response)
            if problem:
                failures.append(f"{problem}\n    for {request.describe()}")

    await asyncio.gather(*(send(r) for r in requests))
    elapsed = time.monotonic() - started
    assert not failures, (f"{len(failures)} bad answer(s) of {REQUESTS} (seed {SEED}):\n" + "\n".join(failures[:15])
                          + f"\nanswers by method and status: {sorted(seen.items())}")
    # The mix reached past the door's own checks: resources were stored, searches answered.
    assert seen[("POST", 201)] and seen[("GET", 200)] and seen[("PUT", 200)] + seen[("PATCH", 200)], seen
    assert elapsed < BUDGET_S, f"the fuzz took {elapsed:.1f}s"
