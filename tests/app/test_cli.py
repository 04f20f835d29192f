"""``fhirgraph demo-data`` as a user runs it: a real process against a real store (devdb or MONGODB_URI)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from pymongo.errors import DuplicateKeyError

from app.cli import _error_line, build_parser
from app.settings import Settings
from auth.principal import Principal
from store.client import open_store
from store.errors import Conflict
from tests.conftest import drop_test_database
from tests.processes import ROOT

PATIENTS = 8


@pytest.fixture
def db_name(mongo_uri: str) -> Iterator[str]:
    """A database of this test's own."""
    name = f"fhirgraph_cli_{uuid.uuid4().hex[:8]}"
    yield name
    drop_test_database(Settings(mongodb_uri=mongo_uri, db_name=name))


def demo_data(uri: str, db_name: str, *args: str, log_level: str = "WARNING") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MONGODB_URI": uri, "FHIRGRAPH_DB_NAME": db_name, "FHIRGRAPH_LOG_LEVEL": log_level}
    return subprocess.run([sys.executable, "-m", "app.cli", "demo-data", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


async def patient_count(uri: str, db_name: str, tenant: str = "default") -> int:
    handle = await open_store(uri, db_name, create_indexes=False)
    try:
        return await handle.repo.count(Principal(tenant, "test"), "Patient")
    finally:
        await handle.close()


def loaded(run: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """The summary table a load prints: resource type -> count."""
    return {line.split()[0]: line.split()[1] for line in run.stdout.splitlines() if line.strip()}


async def test_a_second_run_skips_a_tenant_that_has_patients(mongo_uri: str, db_name: str) -> None:
    first = demo_data(mongo_uri, db_name, "--patients", str(PATIENTS))
    assert first.returncode == 0, first.stderr
    assert loaded(first)["Patient"] == str(PATIENTS)

    second = demo_data(mongo_uri, db_name, "--patients", "30")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().splitlines() == [
        f"tenant 'default' already has {PATIENTS} patients: nothing loaded "
        "(--replace erases the tenant and loads again)"
    ]
    assert "Traceback" not in second.stderr
    assert await patient_count(mongo_uri, db_name) == PATIENTS


async def test_replace_erases_the_tenant_and_loads_again(mongo_uri: str, db_name: str) -> None:
    first = demo_data(mongo_uri, db_name, "--patients", str(PATIENTS), "--tenant", "clinic-a")
    other = demo_data(mongo_uri, db_name, "--patients", "3", "--tenant", "clinic-b")
    assert first.returncode == 0 and other.returncode == 0, first.stderr + other.stderr

    again = demo_data(mongo_uri, db_name, "--patients", str(PATIENTS), "--tenant", "clinic-a", "--replace")
    assert again.returncode == 0, again.stderr
    assert "erased" in again.stderr and "'clinic-a'" in again.stderr
    assert loaded(again) == loaded(first)  # the same seed: the same clinic, resource for resource
    assert await patient_count(mongo_uri, db_name, "clinic-a") == PATIENTS
    assert await patient_count(mongo_uri, db_name, "clinic-b") == 3  # another tenant is left alone


def test_an_unreachable_database_is_one_line_and_exit_1(db_name: str) -> None:
    run = demo_data("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500", db_name, "--patients", "5",
                    log_level="INFO")
    assert run.returncode == 1
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("demo-data: ") and "MongoDB" in lines[0]
    assert "Traceback" not in run.stderr


def test_a_bad_uri_is_reported_without_its_credentials(db_name: str) -> None:
    run = demo_data("mongodb://demo:s3cret@[not-a-host", db_name)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == ["demo-data: MONGODB_URI is not usable (InvalidURI)"]


def test_error_lines_never_echo_driver_details() -> None:
    driver = DuplicateKeyError("E11000 duplicate key error dup key: { family: \"Okafor\" }")
    assert _error_line(driver, "default") == "database error (DuplicateKeyError)"
    conflict = _error_line(Conflict("1 Organization resource(s)\nalready exist"), "clinic-a")
    assert conflict == "1 Organization resource(s) already exist (--replace erases tenant 'clinic-a' first)"


def test_every_devdb_and_demo_data_option_is_explained() -> None:
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name in ("devdb", "demo-data"):
        options = [a for a in commands.choices[name]._actions if a.dest != "help"]
        assert options, name
        for action in options:
            assert action.help, f"{name} {action.option_strings} has no help text"


def test_patients_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["demo-data", "--patients", "0"])
    assert exit_.value.code == 2
    assert "--patients: must be at least 1" in capsys.readouterr().err


def test_an_invalid_setting_is_one_line_naming_the_variable_never_its_value() -> None:
    """A tenant name with a "/" would reach another tenant's keys (they are "<tenant>/<type>/<id>"): refused at
    start, with the variable named and the value (maybe a key) left out."""
    env = {**os.environ, "FHIRGRAPH_API_KEYS": "s3cret-key=clinic/Patient", "FHIRGRAPH_PORT": "eighty"}
    run = subprocess.run([sys.executable, "-m", "app.cli", "serve"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and "Traceback" not in run.stderr and "s3cret" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("fhirgraph: invalid setting FHIRGRAPH_PORT: ")
    assert lines[1].startswith("fhirgraph: invalid setting FHIRGRAPH_API_KEYS: item 1: a tenant name is ")


@pytest.mark.parametrize("name", ["a/b", "", "-x", "x" * 65, "clinic a", "tenant.é"])
def test_tenant_names_are_checked_wherever_they_come_from(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="tenant name"):
        Settings(default_tenant=name)
    with pytest.raises(ValueError, match="tenant name"):
        Principal(name, "x")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo-data", f"--tenant={name}"])
    assert "--tenant: a tenant name is" in capsys.readouterr().err
    assert Principal("clinic-a.b_1", "x").tenant == "clinic-a.b_1"
