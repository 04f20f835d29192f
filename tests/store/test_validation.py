"""The one validity gate: the raw shape of a body (nulls, meta) and FHIR validity, each offending element named."""

from __future__ import annotations

import pytest

from store.client import StoreHandle
from store.errors import Invalid
from store.types import SystemPrincipal
from store.validation import check_shape, validate
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


def nested(levels: int) -> dict[str, object]:
    deep: dict[str, object] = {"url": "http://example.org/x", "valueString": "x"}
    for _ in range(levels):
        deep = {"url": "http://example.org/x", "extension": [deep]}
    return deep


def test_nesting_is_bounded_and_walked_without_recursion() -> None:
    check_shape(make_patient(extension=[nested(30)]))
    deep = nested(30)
    deep["valueString"] = None
    assert shape_error(make_patient(extension=[deep])).paths == ["Patient.extension[0].valueString"]
    error = shape_error(make_patient(extension=[nested(5000)]))  # deeper than the interpreter's stack
    assert len(error.paths) == 1 and error.paths[0].startswith("Patient.extension[0].extension[0]")
    assert "nested deeper" in error.issues[0].message


def test_primitive_extensions_are_objects_and_integers_fit_64_bits() -> None:
    assert shape_error(make_patient(_birthDate="1988")).paths == ["Patient._birthDate"]
    assert shape_error(make_patient(name=[{"given": ["A"], "_given": ["x"]}])).paths == ["Patient.name[0]._given[0]"]
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    assert shape_error({**obs, "valueInteger": 2**64 - 1}).paths == ["Observation.valueInteger"]
    assert shape_error({**obs, "component": [{"valueInteger": -(2**63) - 1}]}).paths == [
        "Observation.component[0].valueInteger"]
    check_shape({**obs, "valueInteger": 2**63 - 1})


def test_not_an_object() -> None:
    shape_error([make_patient()])
    shape_error(None)


async def test_the_write_path_checks_the_shape_before_reading_the_body(store: StoreHandle,
                                                                       principal: SystemPrincipal) -> None:
    for bad in (make_patient(meta={"extension": 5}), make_patient(meta={"tag": None}),
                make_patient(meta={"extension": [5]}), make_patient(address=[{"city": None}]),
                make_patient(id=None)):  # a null id too, though create assigns the id
        with pytest.raises(Invalid) as caught:
            await store.repo.create(principal, bad)
        assert not caught.value.unprocessable
    created = (await store.repo.create(principal, make_patient())).resource
    with pytest.raises(Invalid):
        await store.repo.update(principal, "Patient", created["id"], {**created, "gender": None})
    with pytest.raises(Invalid):
        await store.repo.update(principal, "Patient", created["id"], {**created, "id": None})
    with pytest.raises(Invalid):
        await store.repo.patch(principal, "Patient", created["id"], [{"op": "add", "path": "/gender", "value": None}])
    with pytest.raises(Invalid):
        await store.repo.bulk_load(principal, [make_patient(id="shape-1", meta={"extension": {"url": "x"}})])
    assert await store.repo.count(principal, "Patient") == 1


def validation_error(body: dict[str, object]) -> Invalid:
    with pytest.raises(Invalid) as caught:
        validate(body)
    assert caught.value.unprocessable
    return caught.value


def required(error: Invalid) -> set[str]:
    return {i.path for i in error.issues if i.kind == "required"}


def test_every_missing_required_element_is_named_at_once() -> None:
    assert required(validation_error({"resourceType": "Appointment"})) == {"Appointment.status",
                                                                          "Appointment.participant"}
    error = validation_error({"resourceType": "MedicationRequest"})
    assert required(error) == {"MedicationRequest.status", "MedicationRequest.intent", "MedicationRequest.subject",
                               "MedicationRequest.medication[x]"}
    assert len(error.issues) == 4  # the models' own reports of the same elements are not repeated


def test_missing_elements_of_nested_types_and_contained_resources_are_named() -> None:
    error = validation_error({"resourceType": "Appointment", "status": "booked",
                              "participant": [{"status": "accepted"}, {"actor": {"display": "Dr. X"}}],
                              "extension": [{"valueString": "x"}],
                              "contained": [{"resourceType": "Observation", "id": "o1"}]})
    assert required(error) == {"Appointment.participant[1].status", "Appointment.extension[0].url",
                               "Appointment.contained[0].status", "Appointment.contained[0].code"}


def test_missing_and_malformed_elements_are_reported_together() -> None:
    error = validation_error({"resourceType": "Appointment", "start": "tomorrow", "participant": []})
    assert required(error) == {"Appointment.status", "Appointment.participant"}
    assert "Appointment.start" in error.paths


def test_a_primitive_with_only_extensions_is_present() -> None:
    validate({"resourceType": "Appointment", "participant": [{"status": "accepted"}],
              "_status": {"extension": [{"url": "http://example.org/why", "valueString": "unknown"}]}})


def _invalid(body: dict[str, object]) -> Invalid:
    with pytest.raises(Invalid) as caught:
        validate(body)
    assert caught.value.unprocessable
    return caught.value


def test_every_abbreviated_required_binding_of_the_models_has_its_whole_value_set() -> None:
    import importlib
    import inspect
    import pkgutil

    import fhir.resources.R4B as r4b
    from pydantic import BaseModel

    from store.validation import OPEN_ENDED_BINDINGS

    abbreviated = set()
    for module in pkgutil.iter_modules(r4b.__path__):
        if module.name.startswith(("fhirtypes", "tests")):
            continue
        mod = importlib.import_module(f"fhir.resources.R4B.{module.name}")
        for klass in vars(mod).values():
            if inspect.isclass(klass) and issubclass(klass, BaseModel) and klass.__module__ == mod.__name__:
                for name, info in klass.model_fields.items():
                    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
                    codes = extra.get("enum_values")
                    if isinstance(codes, list) and "+" in codes:
                        abbreviated.add((klass.__name__, info.alias or name))
                        assert set(codes) - {"+"} <= set(OPEN_ENDED_BINDINGS[(klass.__name__, info.alias or name)])
    assert abbreviated == set(OPEN_ENDED_BINDINGS)


def test_codes_of_abbreviated_required_bindings_are_checked() -> None:
    error = _invalid({"resourceType": "Observation", "status": "banana", "code": {"text": "Weight"}})
    assert error.paths == ["Observation.status"] and error.issues[0].kind == "code-invalid"
    assert "entered-in-error" in error.issues[0].message and "banana" not in error.issues[0].message
    validate({"resourceType": "Observation", "status": "cancelled", "code": {"text": "Weight"}})  # beyond the "+"
    error = _invalid({"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
                      "statusHistory": [{"status": "done", "period": {"start": "2024-01-01"}}]})
    assert error.paths == ["Encounter.statusHistory[0].status"]


@pytest.mark.parametrize(("body", "path"), [
    ({"resourceType": "Patient", "active": "yes"}, "Patient.active"),
    ({"resourceType": "Patient", "active": 1}, "Patient.active"),
    ({"resourceType": "Patient", "multipleBirthInteger": "3"}, "Patient.multipleBirthInteger"),
    ({"resourceType": "Patient", "multipleBirthInteger": 3.0}, "Patient.multipleBirthInteger"),
    ({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "valueQuantity": {"value": "3.5"}},
     "Observation.valueQuantity.value"),
    ({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "valueBoolean": True,
      "component": [{"code": {"text": "y"}, "valueInteger": True}]}, "Observation.component[0].valueInteger"),
])
def test_booleans_integers_and_decimals_must_be_of_their_json_type(body: dict[str, object], path: str) -> None:
    error = _invalid(body)
    assert error.paths == [path] and error.issues[0].kind == "value"


def test_json_primitives_of_their_type_pass() -> None:
    validate({"resourceType": "Patient", "active": False, "multipleBirthInteger": 2})
    validate({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
              "valueQuantity": {"value": 3}, "component": [{"code": {"text": "y"}, "valueQuantity": {"value": 3.5}}]})


def test_codings_of_a_required_concept_binding_carry_its_codes() -> None:
    clinical = "http://terminology.hl7.org/CodeSystem/condition-clinical"
    condition = {"resourceType": "Condition", "subject": {"reference": "Patient/p1"}}
    error = _invalid({**condition, "clinicalStatus": {"coding": [{"system": clinical, "code": "banana"}]}})
    assert error.paths == ["Condition.clinicalStatus.coding[0].code"] and error.issues[0].kind == "code-invalid"
    validate({**condition, "clinicalStatus": {"coding": [{"system": clinical, "code": "remission"}]}})
    validate({**condition, "clinicalStatus": {"coding": [{"system": "http://example.org/local", "code": "x"}]}})
    allergy = {"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/p1"}, "verificationStatus": {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                    "code": "maybe"}]}}
    assert _invalid(allergy).paths == ["AllergyIntolerance.verificationStatus.coding[0].code"]
