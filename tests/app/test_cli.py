"""``fhirgraph demo-data`` as a user runs it: a real process against a real store (devdb or MONGODB_URI)."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from pymongo.errors import DuplicateKeyError

from app import cli
from app.cli import _error_line, build_parser
from app.progress import WIDTH, Progress, render
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
    # the erase is a phase like the others: its bar counts every document of the tenant (resources, their
    # history, events), each counted first
    phases = [line.split()[0] for line in again.stderr.splitlines() if "ETA" in line]
    assert phases == ["erasing", "practice", "patients", "free"], again.stderr
    erased = re.search(rf"erasing +\[#{{{WIDTH}}}\] +([\d,]+)/([\d,]+) 100% +[\d,]+/s  ETA 0:00", again.stderr)
    assert erased and erased[1] == erased[2], again.stderr
    first_total = int(first.stdout.splitlines()[-1].split()[1].replace(",", ""))
    assert int(erased[1].replace(",", "")) >= first_total  # the resources and, besides them, their history
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


def _commands(parser: argparse.ArgumentParser,
              path: str = "fhirgraph") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _commands(child, f"{path} {name}")


def test_every_command_and_option_is_explained_with_its_default() -> None:
    commands = list(_commands(build_parser()))
    assert {"fhirgraph serve", "fhirgraph devdb", "fhirgraph demo-data", "fhirgraph clients add",
            "fhirgraph users revoke", "fhirgraph launch add"} <= {name for name, _ in commands}
    for name, parser in commands:
        helped = parser.format_help()
        for action in parser._actions:
            if action.dest == "help":
                continue
            if isinstance(action, argparse._SubParsersAction):
                assert all(choice.help for choice in action._choices_actions), f"{name}: a command has no help"
                continue
            assert action.help, f"{name} {action.option_strings} has no help text"
            if action.option_strings and not action.required and not isinstance(action, argparse._VersionAction):
                assert "default" in parser._get_formatter()._format_action(action), \
                    f"{name} {action.option_strings} does not say its default:\n{helped}"
    demo = " ".join(dict(commands)["fhirgraph demo-data"].format_help().split())
    assert "(default: 100)" in demo and "(default: 7)" in demo


def test_version() -> None:
    run = subprocess.run([sys.executable, "-m", "app.cli", "--version"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0 and re.fullmatch(r"fhirgraph \d+\.\d+\.\d+\S*\n", run.stdout), run.stdout


def test_without_the_devdb_extra_serve_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli, "_devdb_installed", lambda: False)
    monkeypatch.setattr(cli, "get_settings", lambda: Settings(mongodb_uri=None))
    assert cli.main(["serve"]) == 2
    assert cli.main(["devdb"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all('pip install "fhirgraph[devdb]"' in line for line in lines)
    assert lines[0].startswith("fhirgraph serve: the embedded store (MONGODB_URI unset) needs the devdb extra")


def test_demo_data_shows_every_phase_with_rate_and_eta(mongo_uri: str, db_name: str) -> None:
    run = demo_data(mongo_uri, db_name, "--patients", str(PATIENTS))
    assert run.returncode == 0, run.stderr
    phases = [line.split()[0] + (" " + line.split()[1] if line.split()[1] == "slots" else "")
              for line in run.stderr.splitlines() if "ETA" in line]
    assert phases == ["practice", "patients", "free slots"], run.stderr
    assert re.search(rf"patients +\[#{{{WIDTH}}}\] +{PATIENTS}/{PATIENTS} 100% +[\d,]+/s  ETA 0:00", run.stderr)


def test_the_progress_bar_shows_rate_and_eta() -> None:
    assert render("patients", 250, 1000, 5.0) == (f"  patients    [{'#' * 6}{'.' * 18}]       250/1,000  25%"
                                                  "       50/s  ETA 0:15")
    out = io.StringIO()
    clock = iter([0.0, 2.0, 4.0, 5.0])
    bar = Progress(out, clock=lambda: next(clock), live=True)
    bar("practice", 0, 10)
    bar("practice", 10, 10)
    bar("patients", 0, 100)
    bar("patients", 100, 100)
    bar.end()
    lines = out.getvalue().split("\n")
    assert lines[0].endswith("10/10 100%        5/s  ETA 0:00") and "\r" in lines[0]
    assert lines[1].endswith("100/100 100%      100/s  ETA 0:00")


async def _practitioner_1(mongo_uri: str, db_name: str) -> None:
    handle = await open_store(mongo_uri, db_name)
    try:
        await handle.repo.update(Principal("default", "test"), "Practitioner", "1",
                                 {"resourceType": "Practitioner", "id": "1"})
    finally:
        await handle.close()


def test_a_duplicate_is_one_line_and_exit_1(mongo_uri: str, db_name: str) -> None:
    env = {**os.environ, "MONGODB_URI": mongo_uri, "FHIRGRAPH_DB_NAME": db_name}
    asyncio.run(_practitioner_1(mongo_uri, db_name))  # the user's fhirUser must exist
    add = [sys.executable, "-m", "app.cli", "users", "add", "--username", "dr-who", "--fhir-user", "Practitioner/1"]
    first = subprocess.run(add, cwd=ROOT, env=env, input="a long password\n", capture_output=True, text=True,
                           timeout=60)
    assert first.returncode == 0, first.stderr
    again = subprocess.run(add, cwd=ROOT, env=env, input="another password\n", capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1 and again.stderr.startswith("users add: "), again.stderr


def test_an_unreachable_database_at_serve_is_one_error_line_without_traceback() -> None:
    env = {**os.environ, "MONGODB_URI": "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300&connectTimeoutMS=300",
           "FHIRGRAPH_LOG_FORMAT": "text", "FHIRGRAPH_DB_TIMEOUT_S": "0.5"}
    run = subprocess.run([sys.executable, "-m", "app.cli", "serve", "--port", "1"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if " ERROR " in line]
    assert errors[0].endswith("start-up failed: Unavailable: Cannot reach MongoDB: ServerSelectionTimeoutError")


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


def test_serve_on_the_embedded_store_prints_the_line_that_registers_clients_in_it() -> None:
    import shlex

    from tests.app.serving import serving

    with serving("") as served:  # MONGODB_URI empty: the embedded store
        hints = [line for line in served.output().splitlines() if line.startswith("embedded store: ")]
        assert len(hints) == 1, served.output()[-2000:]
        words = shlex.split(hints[0].partition(", e.g. ")[2])
        at = words.index("fhirgraph")
        assignments = dict(w.split("=", 1) for w in words[:at])
        command = words[at:]
        assert command[:3] == ["fhirgraph", "clients", "add"] and "MONGODB_URI" in assignments
        assert assignments["MONGODB_URI"].startswith("mongodb://127.0.0.1:")
        run = subprocess.run([sys.executable, "-m", "app.cli", *command[1:]], cwd=ROOT, capture_output=True,
                             text=True, timeout=60, env={**os.environ, **assignments})
        assert run.returncode == 0, run.stderr[-1000:]
        assert "client_id" in run.stdout
