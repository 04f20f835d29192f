"""The vendor API's route table (seed 002), mounted at ``/qapi/v1``. Every response of the mount, its 404s and
405s included, is in seed 002's shape: errors are domain errors rendered by ``fhir_rest/qapi/errors.py`` (a path
or method no route takes reaches the composition root's routing handler, which renders it the same way)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount

from fhir_rest.qapi import webhooks

PREFIX = "/qapi/v1"


ROUTES: list[BaseRoute] = [
    *webhooks.routes(),
]


def mount() -> Mount:
    return Mount(PREFIX, routes=ROUTES)
