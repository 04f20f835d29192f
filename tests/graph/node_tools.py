"""Node tools for the GraphQL tests (graphql-http audit, Apollo composition and gateway), installed on demand
into tests/.cache like the other npm-backed tests. Node and npm are available on every CI machine."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.npm import npm_modules

SCRIPTS = Path(__file__).resolve().parent / "node"
PACKAGES = ("@apollo/composition@2", "@apollo/gateway@2", "@apollo/server@4", "@apollo/subgraph@2", "graphql@16",
            "graphql-http@1")


def ensure_installed() -> Path:
    return npm_modules("graphql-node", PACKAGES)


def run_node(script: str, *args: str, timeout: float = 180) -> tuple[int, Any, str]:
    modules = ensure_installed()
    proc = subprocess.run(["node", str(SCRIPTS / script), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "NODE_PATH": str(modules)})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(("{", "["))]
    return proc.returncode, json.loads(lines[-1]) if lines else None, proc.stderr
