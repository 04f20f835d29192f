"""npm packages that tests run against (graphql-http, Apollo, graphql-ws), installed on demand into
tests/.cache/<name>. Node.js and npm are on every machine of this project's kind, CI included."""

from __future__ import annotations

import subprocess
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"


def npm_modules(name: str, packages: tuple[str, ...]) -> Path:
    """The node_modules folder of ``tests/.cache/<name>`` holding ``packages`` (``pkg@range``)."""
    folder = CACHE / name
    modules = folder / "node_modules"
    # "@scope/pkg@2" → "@scope/pkg", "pkg@1" → "pkg": a version follows the last "@" that is not the first char
    wanted = [p[: p.rindex("@")] if p.rfind("@") > 0 else p for p in packages]
    if all((modules / w / "package.json").exists() for w in wanted):
        return modules
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "package.json").exists():
        (folder / "package.json").write_text(f'{{"name": "fhirgraph-{name}", "private": true}}\n')
    subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", *packages], cwd=folder, check=True,
                   capture_output=True, timeout=900)
    return modules
