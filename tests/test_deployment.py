"""The operator's walk through the deployment files, by reading them and with docker-compose's own check (no
Docker daemon here): every service is health-checked, no secret is in an environment variable or the image, the
proxy sends HSTS, the dashboard charts metrics the app exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

import store.metrics  # noqa: F401 - registers every metric

ROOT = Path(__file__).resolve().parents[1]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
SECRET_WORDS = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEYS|PRIVATE|KEYFILE|SIGNING_KEY", re.I)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_health_check(name: str) -> None:
    check = SERVICES[name].get("healthcheck")
    assert check and check.get("test"), f"{name} has no healthcheck"
    assert SERVICES[name].get("restart") == "unless-stopped"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_no_secret_is_in_an_environment_variable(name: str) -> None:
    environment = SERVICES[name].get("environment") or {}
    assert isinstance(environment, dict)
    for variable, value in environment.items():
        if SECRET_WORDS.search(variable):  # allowed only as the path of a secret file
            assert str(value).startswith("/run/secrets"), f"{name}: {variable} holds a secret"
        # a URI carries a user name at most, never user:password@
        assert not re.search(r"://[^/@\s]*:[^/@\s]*@", str(value)), f"{name}: {variable} has credentials"
    secrets = SERVICES[name].get("secrets") or []
    for secret in secrets:
        source = secret if isinstance(secret, str) else secret["source"]
        assert COMPOSE["secrets"][source]["file"].startswith("./secrets/")


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_no_health_check_puts_a_secret_on_a_command_line(name: str) -> None:
    # A command line is readable by every process in the container (ps) and kept by docker inspect.
    check = " ".join(SERVICES[name]["healthcheck"]["test"])
    assert not re.search(r"(^|\s)(-p|--password)(\s|=)", check), f"{name}: a password on the command line"
    assert "$(cat /run/secrets" not in check.replace("$$", "$")


def test_the_app_reads_its_secrets_from_files_and_runs_several_replicas() -> None:
    app = SERVICES["app"]
    env = app["environment"]
    assert env["FHIRGRAPH_SECRETS_DIR"] == "/run/secrets"
    targets = {s if isinstance(s, str) else s.get("target", s["source"]) for s in app["secrets"]}
    # pydantic-settings reads FHIRGRAPH_SECRETS_DIR/<variable in lower case>
    assert {"fhirgraph_mongodb_password", "fhirgraph_api_keys", "fhirgraph_signing_key"} <= targets
    assert app["deploy"]["replicas"] >= 2 and "ports" not in app  # behind the proxy's one port
    assert env["FHIRGRAPH_ALLOW_ANONYMOUS"] == "false" and env["FHIRGRAPH_ENVIRONMENT"] == "production"
    assert int(env["FHIRGRAPH_SHUTDOWN_TIMEOUT_S"]) < int(app["stop_grace_period"].rstrip("s"))
    assert "/health/live" in str(app["healthcheck"]["test"])


def test_mongodb_runs_with_authentication_as_a_replica_set() -> None:
    mongo = SERVICES["mongo"]
    assert "--keyFile" in str(mongo["entrypoint"]) and "--replSet" in str(mongo["entrypoint"])
    assert mongo["environment"]["MONGO_INITDB_ROOT_PASSWORD_FILE"].startswith("/run/secrets/")
    assert "createUser" in (ROOT / COMPOSE["configs"]["mongo_app_user"]["file"]).read_text()
    assert "ports" not in mongo


def test_the_proxy_terminates_tls_with_hsts_and_checks_readiness() -> None:
    caddyfile = (ROOT / COMPOSE["configs"]["caddyfile"]["file"]).read_text()
    assert re.search(r'Strict-Transport-Security "max-age=\d{8,}', caddyfile)
    assert "health_uri /health/ready" in caddyfile and "dynamic a app 8000" in caddyfile
    assert set(SERVICES["caddy"]["ports"]) >= {"80:80", "443:443"}


def test_the_image_has_no_test_engine_and_pinned_versions() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    install = next(line for line in dockerfile.splitlines() if line.startswith("RUN pip install"))
    assert "-c constraints.txt" in install and "devdb" not in install and "test" not in install
    assert "COPY tests" not in dockerfile and "secrets" not in dockerfile.lower().replace("/run/secrets", "")
    # the build context leaves out the compose secrets and .env, whatever a later COPY names
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {"secrets/", ".env", "tests/"} <= ignored
    copied = [src for line in dockerfile.splitlines() if line.startswith("COPY ") for src in line.split()[1:-1]]
    assert not any(path.rstrip("/") + "/" in ignored for path in copied), copied
    constraints = (ROOT / "constraints.txt").read_text()
    pins = [line for line in constraints.splitlines() if line and not line.startswith("#")]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[^\s]+", line) for line in pins), pins[:5]
    assert not any(line.lower().startswith("fhirgraph==") for line in pins)


def test_grafana_is_provisioned_with_a_dashboard_of_metrics_the_app_exports() -> None:
    grafana = SERVICES["grafana"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in grafana["volumes"] if v.startswith("./")}
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert mounts["./deploy/grafana/dashboards"] == "/var/lib/grafana/dashboards"
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/fhirgraph.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/fhirgraph.json").read_text())
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    exported = {m.name + suffix for m in REGISTRY.collect() for suffix in suffixes.get(m.type, ())}
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", ())]
    used = {name for e in exprs for name in re.findall(r"\bfhirgraph_[a-z_]+", e)}
    assert len(used) >= 20
    assert used <= exported, used - exported
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    [job] = prometheus["scrape_configs"]
    assert job["dns_sd_configs"][0]["port"] == int(SERVICES["app"]["environment"]["FHIRGRAPH_METRICS_PORT"])


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose (Debian's package) not installed")
def test_compose_validates_the_file(tmp_path: Path) -> None:
    # Compose itself reads the file (no daemon needed): the files it names exist, interpolation is complete.
    shutil.copy(ROOT / "docker-compose.yml", tmp_path)
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    (tmp_path / "secrets").mkdir()
    for secret in COMPOSE["secrets"].values():
        (tmp_path / secret["file"]).write_text("placeholder\n")
    checked = subprocess.run(["docker-compose", "config", "--quiet"], cwd=tmp_path, capture_output=True, text=True,
                             env={**os.environ, "FHIRGRAPH_DOMAIN": "fhir.example.org"}, timeout=60)
    assert checked.returncode == 0, checked.stderr
    unset = subprocess.run(["docker-compose", "config", "--quiet"], cwd=tmp_path, capture_output=True, text=True,
                           env={k: v for k, v in os.environ.items() if k != "FHIRGRAPH_DOMAIN"}, timeout=60)
    assert unset.returncode != 0 and "FHIRGRAPH_DOMAIN" in unset.stderr  # the one setting an operator must give

