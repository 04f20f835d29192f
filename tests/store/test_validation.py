"""The one validity gate: the raw shape of a body (nulls, meta) and FHIR validity, each offending element named."""

from __future__ import annotations

import pytest

from store.client import StoreHandle
from store.errors import Invalid
from store.types import SystemPrincipal
from store.validation import check_shape
from tests.factories import make_patient


def shape_error(body: object) -> Invalid:
    with pytest.raises(Invalid) as caught:
        check_shape(body)
    assert not caught.value.unprocessable  # malformed FHIR JSON: 400, not 422
    return caught.value


@pytest.mark.parametrize("extension", [5, "x", {"url": "u"}, True])
def test_a_non_array_meta_extension_is_refused(extension: object) -> None:
    error = shape_error(make_patient(meta={"extension": extension}))
    assert error.paths == ["Patient.meta.extension"]


def test_meta_must_be_an_object_of_arrays() -> None:
    assert shape_error(make_patient(meta=[1])).paths == ["Patient.meta"]
    assert shape_error(make_patient(meta={"tag": {"code": "x"}})).paths == ["Patient.meta.tag"]
    assert shape_error(make_patient(meta={"profile": [5]})).paths == ["Patient.meta.profile[0]"]
    assert shape_error(make_patient(meta={"security": ["x"]})).paths == ["Patient.meta.security[0]"]


def test_nulls_are_refused_with_their_paths_and_never_their_neighbours_values() -> None:
    error = shape_error(make_patient(meta={"tag": None}, gender=None,
                                     name=[{"family": "Secretname", "given": ["Ann", None]}], telecom=[None]))
    assert set(error.paths) == {"Patient.meta.tag", "Patient.gender", "Patient.name[0].given[1]",
                                "Patient.telecom[0]"}
    assert {i.kind for i in error.issues} == {"structure"}
    assert "Secretname" not in str([error.message, *(i.message for i in error.issues)])


def test_a_null_may_align_a_repeating_primitive_with_its_extensions() -> None:
    ext = {"extension": [{"url": "http://example.org/why", "valueString": "unknown"}]}
    check_shape(make_patient(name=[{"family": "Reyes", "given": ["Ann", None], "_given": [None, ext]}]))
    # ... but not at the same index of both, and not without a twin
    error = shape_error(make_patient(name=[{"given": ["Ann", None], "_given": [None, None]}]))
    assert set(error.paths) == {"Patient.name[0].given[1]", "Patient.name[0]._given[1]"}
    assert shape_error(make_patient(name=[{"given": [None]}])).paths == ["Patient.name[0].given[0]"]


def test_a_deeply_nested_body_is_walked_without_recursion() -> None:
    deep: dict[str, object] = {"url": "http://example.org/x"}
    for _ in range(5000):
        deep = {"url": "http://example.org/x", "extension": [deep]}
    deep["valueString"] = None
    error = shape_error(make_patient(extension=[deep]))
    assert error.paths == ["Patient.extension[0].valueString"]


def test_not_an_object() -> None:
    shape_error([make_patient()])
    shape_error(None)


async def test_the_write_path_checks_the_shape_before_reading_the_body(store: StoreHandle,
                                                                       principal: SystemPrincipal) -> None:
    for bad in (make_patient(meta={"extension": 5}), make_patient(meta={"tag": None}),
                make_patient(meta={"extension": [5]}), make_patient(address=[{"city": None}])):
        with pytest.raises(Invalid) as caught:
            await store.repo.create(principal, bad)
        assert not caught.value.unprocessable
    created = (await store.repo.create(principal, make_patient())).resource
    with pytest.raises(Invalid):
        await store.repo.update(principal, "Patient", created["id"], {**created, "gender": None})
    with pytest.raises(Invalid):
        await store.repo.patch(principal, "Patient", created["id"], [{"op": "add", "path": "/gender", "value": None}])
    with pytest.raises(Invalid):
        await store.repo.bulk_load(principal, [make_patient(id="shape-1", meta={"extension": {"url": "x"}})])
    assert await store.repo.count(principal, "Patient") == 1
