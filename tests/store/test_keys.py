"""Search-key extraction and the search compiler."""

from __future__ import annotations

import pytest

from store.errors import Invalid
from store.keys import date_range, extract, fold
from store.params import P
from store.search import _one, compile_params, decode_cursor, encode_cursor, parse_sort
from tests.factories import make_appointment, make_patient


def test_fold_strips_accents_and_case() -> None:
    assert fold("  Renée MÜLLER ") == "renee muller"


@pytest.mark.parametrize(("value", "lo", "hi"), [
    ("2020", "2020-01-01T00:00:00.000000", "2020-12-31T23:59:59.999999"),
    ("2020-02", "2020-02-01T00:00:00.000000", "2020-02-29T23:59:59.999999"),
    ("2020-12-31", "2020-12-31T00:00:00.000000", "2020-12-31T23:59:59.999999"),
    ("2020-12-31T23:00:00-02:00", "2021-01-01T01:00:00.000000", "2021-01-01T01:00:00.999999"),
])
def test_date_ranges(value: str, lo: str, hi: str) -> None:
    assert date_range(value) == (lo, hi)


def test_date_range_rejects_garbage() -> None:
    assert date_range("yesterday") is None


def test_patient_keys() -> None:
    keys = extract({**make_patient(id="p1"), "meta": {"lastUpdated": "2026-01-01T00:00:00Z"}})
    k = keys["k"]
    assert "reyes" in k["family"] and "maria" in k["given"]
    assert "https://fhirgraph.dev/fhir/sid/mrn|MRN-1" in k["identifier"] and "MRN-1" in k["identifier"]
    assert k["birthdate"] == [{"lo": "1988-03-14T00:00:00.000000", "hi": "1988-03-14T23:59:59.999999"}]
    assert "maria.reyes@example.com" in k["email"] and "415-555-0101" in k["phone"]
    assert keys["s"]["family"] == "reyes"
    assert keys["e"]["family"] == ["Reyes"]


def test_reference_keys_have_type_and_bare_id() -> None:
    keys = extract({**make_appointment("p9", practitioner_id="d1"), "id": "a1"})["k"]
    assert set(keys["patient"]) == {"Patient/p9", "p9"}
    assert set(keys["practitioner"]) == {"Practitioner/d1", "d1"}
    assert {"Patient/p9", "Practitioner/d1"} <= set(keys["actor"])


def test_compile_rejects_unknown_and_bad_values() -> None:
    with pytest.raises(Invalid):
        compile_params("Patient", [("shoe-size", "9")], "t")
    with pytest.raises(Invalid):
        compile_params("Patient", [("birthdate", "gt-soon")], "t")
    clauses, applied, ignored = compile_params("Patient", [("shoe-size", "9"), ("gender", "male")], "t",
                                               strict=False)
    assert applied == [("gender", "male")] and ignored == [("shoe-size", "9")]
    assert clauses == [{"_sys.k.gender": "male"}]


def test_sort_and_cursor_validation() -> None:
    assert parse_sort("Patient", "family,-birthdate") == [("_sys.s.family", 1), ("_sys.s.birthdate", -1)]
    with pytest.raises(Invalid):
        parse_sort("Patient", "phone")
    with pytest.raises(Invalid):
        decode_cursor("not-a-cursor", [], "Patient", "t1")


def _forged(payload: object) -> str:
    import base64

    import orjson

    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


@pytest.mark.parametrize("values", [[{"$exists": True}], [{"$regex": ".*"}], [{"$where": "sleep(1000)"}],
                                    [{"$gt": ""}], [1], [None], [["a"]]])
def test_a_cursor_is_strictly_typed_so_no_operator_reaches_a_filter(values: list[object]) -> None:
    sort = parse_sort("Patient", "family")
    good = encode_cursor({"_id": "t1/p1", "_sys": {"s": {"family": "smith"}}}, sort, "Patient")
    assert decode_cursor(good, sort, "Patient", "t1") == (["smith"], "t1/p1")
    tag = orjson_loads_tag(good)
    with pytest.raises(Invalid):
        decode_cursor(_forged({"v": values, "id": "t1/p1", "t": tag}), sort, "Patient", "t1")
    with pytest.raises(Invalid):  # the _id is checked too: a string of this tenant's
        decode_cursor(_forged({"v": ["smith"], "id": {"$gt": ""}, "t": tag}), sort, "Patient", "t1")


def test_a_cursor_only_pages_what_made_it() -> None:
    sort = parse_sort("Patient", "family")
    good = encode_cursor({"_id": "t1/p1", "_sys": {"s": {"family": "smith"}}}, sort, "Patient")
    others = ((sort, "Patient", "t2"), (sort, "Practitioner", "t1"), (parse_sort("Patient", "given"), "Patient", "t1"))
    for args in others:
        with pytest.raises(Invalid):
            decode_cursor(good, *args)


def orjson_loads_tag(cursor: str) -> str:
    import base64

    import orjson

    tag: str = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["t"]
    return tag


def test_paths_through_extension_and_identifier_urls() -> None:
    from store.naming import EXT, SID

    res = {"resourceType": "Patient", "id": "p",
           "extension": [{"url": EXT["patient-status"], "valueCode": "prospective"},
                         {"url": EXT["patient-location"], "valueReference": {"reference": "Location/l1"}}],
           "identifier": [{"system": SID["chart-number"], "value": "C-77"}]}
    k = extract(res)["k"]
    assert "prospective" in k["lifecycle-status"]
    assert "C-77" in k["chart-number"]
    assert "Location/l1" in k["location"]


def test_a_number_search_value_is_a_fhir_decimal() -> None:
    """``float()`` alone would take "nan", "inf", "1_0" and other scripts' digits; a search value may not."""
    p = P("probability", "number", ("prediction.probabilityDecimal",))
    assert _one(p, "", "ge0.5", "t") == {"_sys.k.probability": {"$gte": 0.5}}
    assert _one(p, "", "-1e3", "t") == {"_sys.k.probability": {"$eq": -1000.0}}
    for bad in ("nan", "inf", "1_0", "٣", "²", "1e400", "", "gt", "0x10"):
        with pytest.raises(Invalid):
            _one(p, "", bad, "t")


def test_patient_phones_emails_and_ssns_are_also_kept_normalized() -> None:
    from store.keys import extract, phone_forms

    assert phone_forms("+1 (614) 555-9012") == ["16145559012", "6145559012", "5559012"]
    assert phone_forms("555-12") == []
    k = extract({"resourceType": "Patient", "id": "p",
                 "telecom": [{"system": "phone", "value": "(614) 555-9012"}, {"system": "email", "value": "A@B.org"}],
                 "identifier": [{"system": "http://hl7.org/fhir/sid/us-ssn", "value": "123-45-6789"}]})["k"]
    assert {"6145559012", "5559012", "(614) 555-9012"} <= set(k["phone"]) and "6145559012" in k["_content"]
    assert "a@b.org" in k["email"] and "A@B.org" in k["email"]
    assert "http://hl7.org/fhir/sid/us-ssn|123456789" in k["identifier"]
