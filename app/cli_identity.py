"""``fhirgraph clients add`` / ``users add`` / ``launch add``: registering with the authorization server, in the
MongoDB at MONGODB_URI (the store a running server uses). Secrets are printed once and never logged."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from app.settings import Settings, get_settings


def cmd_clients_add(args: argparse.Namespace) -> int:
    from auth.registry import add_client

    jwks = None
    if args.jwks_file:
        try:
            jwks = orjson.loads(Path(args.jwks_file).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            print("clients add: --jwks-file must name a readable JSON Web Key Set", file=sys.stderr)
            return 2

    async def run(identity: Any, s: Settings) -> dict[str, Any]:
        return await add_client(identity, name=args.name, tenant=args.tenant or s.default_tenant,
                                redirect_uris=args.redirect_uri or [], public=args.public, grant=args.grant,
                                scopes=args.scope.split() if args.scope else None, jwks=jwks,
                                jwks_url=args.jwks_url)

    return _with_store("clients add", run)


def cmd_users_add(args: argparse.Namespace) -> int:
    from auth.registry import add_user

    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\r\n")

    async def run(identity: Any, s: Settings) -> dict[str, Any]:
        return await add_user(identity, username=args.username, password=password, fhir_user=args.fhir_user,
                              tenant=args.tenant or s.default_tenant)

    kind, _, rid = str(args.fhir_user).partition("/")
    return _with_store("users add", run, exists=[(kind, rid)] if kind and rid else [], tenant=args.tenant)


def cmd_launch_add(args: argparse.Namespace) -> int:
    from auth.registry import add_launch

    async def run(identity: Any, s: Settings) -> dict[str, Any]:
        return await add_launch(identity, tenant=args.tenant or s.default_tenant, patient=args.patient,
                                encounter=args.encounter, client_id=args.client_id)

    return _with_store("launch add", run, tenant=args.tenant,
                       exists=[("Patient", args.patient), *([("Encounter", args.encounter)] if args.encounter else [])])


def cmd_clients_disable(args: argparse.Namespace) -> int:
    from auth.registry import disable_client

    async def run(identity: Any, s: Settings) -> dict[str, Any]:
        tenant = args.tenant or s.default_tenant
        if not await disable_client(identity, client_id=args.client_id, tenant=tenant):
            raise ValueError(f"no client {args.client_id[:64]!r} in tenant {tenant!r}")
        return {"client_id": args.client_id, "disabled": True}

    return _with_store("clients disable", run)


def cmd_users_revoke(args: argparse.Namespace) -> int:
    from auth.registry import revoke_grant

    async def run(identity: Any, s: Settings) -> dict[str, Any]:
        await revoke_grant(identity, client_id=args.client_id, tenant=args.tenant or s.default_tenant,
                           username=args.username)
        return {"client_id": args.client_id, "username": args.username, "revoked": True}

    return _with_store("users revoke", run)


def _with_store(name: str, work: Callable[[Any, Settings], Awaitable[dict[str, Any]]], *,
                exists: Sequence[tuple[str, str]] = (), tenant: str | None = None) -> int:
    """Run ``work`` against the store at MONGODB_URI; ``exists``: resources of ``tenant`` the work names (a
    launch's patient, a user's fhirUser), refused in one line when the store has no such resource."""
    from pymongo.errors import PyMongoError

    from store.errors import DomainError

    settings = get_settings()
    if not settings.mongodb_uri:
        print(f"{name}: set MONGODB_URI to the store the server uses (or a running `fhirgraph devdb`); "
              "`fhirgraph serve` on the embedded store prints the line to run (\"embedded store: ...\"), and "
              "`--demo N` creates a demo client and logins by itself", file=sys.stderr)
        return 2

    async def run() -> dict[str, Any]:
        from store.client import open_store

        handle = await open_store(settings.mongodb_uri, settings.db_name, timeout_s=settings.db_timeout_s,
                                  password=settings.mongo_password)
        try:
            if exists:
                from store.types import SystemPrincipal

                reader = SystemPrincipal(tenant or settings.default_tenant, "cli")
                for rt, rid in exists:
                    if rt not in ("Patient", "Practitioner", "RelatedPerson", "Encounter"):
                        continue  # add_user names what it accepts
                    await handle.repo.read(reader, rt, rid)  # NotFound / Gone: no such resource
            return await work(handle.repo.identity, settings)
        finally:
            await handle.close()

    try:
        shown = asyncio.run(run())
    except (DomainError, ValueError) as exc:
        print(f"{name}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except PyMongoError as exc:
        print(f"{name}: database error ({type(exc).__name__})", file=sys.stderr)
        return 1
    print(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode())
    return 0


TENANT_HELP = "the tenant (clinic) (default: FHIRGRAPH_DEFAULT_TENANT, else 'default')"


def add_parsers(sub: Any, tenant: Callable[[str], str]) -> None:
    clients = sub.add_parser("clients", help="OAuth clients of the authorization server")
    clients_sub = clients.add_subparsers(dest="action", required=True)
    add = clients_sub.add_parser("add", help="register a client; prints it as JSON (a secret only once)")
    add.add_argument("--name", required=True, help="the client's name, shown on the consent page")
    add.add_argument("--redirect-uri", action="append", metavar="URI",
                     help="an exact redirect URI (repeat for several); required for authorization_code (default: none)")
    add.add_argument("--public", action="store_true", help="a public client (no secret; PKCE only); default: "
                                                           "confidential")
    add.add_argument("--grant", default="authorization_code",
                     choices=["authorization_code", "client_credentials", "api_key"],
                     help="api_key: a vendor-API integrator; prints its Api-Key once")
    add.add_argument("--scope", default=None,
                     help='the scopes it may ever be granted, e.g. "patient/*.rs launch" (default: system/*.rs for '
                          "client_credentials and api_key, the SMART app launch scopes otherwise); "
                          '"introspect" (never granted in a token) lets it introspect every token of its tenant '
                          "(a protected resource), else a client introspects only its own tokens; the audit trail "
                          "needs a scope naming it (user/AuditEvent.rs) or a system/ one: patient/* and user/* "
                          "wildcards do not cover AuditEvent")
    add.add_argument("--jwks-file", default=None, help="its public keys (JWKS JSON): private_key_jwt (default: none)")
    add.add_argument("--jwks-url", default=None,
                     help="where its public keys are published: private_key_jwt (default: none)")
    add.add_argument("--tenant", default=None, type=tenant, help=TENANT_HELP)
    add.set_defaults(func=cmd_clients_add)
    off = clients_sub.add_parser("disable", help="disable a client: every token of it ends within a second")
    off.add_argument("--client-id", required=True, help="the client to disable")
    off.add_argument("--tenant", default=None, type=tenant, help=TENANT_HELP)
    off.set_defaults(func=cmd_clients_disable)

    users = sub.add_parser("users", help="people who sign in at the authorization server")
    users_sub = users.add_subparsers(dest="action", required=True)
    uadd = users_sub.add_parser("add", help="add a user; the password is read from standard input")
    uadd.add_argument("--username", required=True, help="the name the user signs in with")
    uadd.add_argument("--fhir-user", required=True, metavar="TYPE/ID",
                      help="Practitioner/ID, Patient/ID or RelatedPerson/ID")
    uadd.add_argument("--tenant", default=None, type=tenant, help=TENANT_HELP)
    uadd.set_defaults(func=cmd_users_add)
    urev = users_sub.add_parser("revoke", help="end a user's authorization of a client (its tokens too)")
    urev.add_argument("--username", required=True, help="the user whose authorization ends")
    urev.add_argument("--client-id", required=True, help="the client it authorized")
    urev.add_argument("--tenant", default=None, type=tenant, help=TENANT_HELP)
    urev.set_defaults(func=cmd_users_revoke)

    launch = sub.add_parser("launch", help="EHR launch contexts")
    launch_sub = launch.add_subparsers(dest="action", required=True)
    ladd = launch_sub.add_parser("add", help="issue a launch parameter for an EHR launch (valid one hour)")
    ladd.add_argument("--patient", required=True, metavar="ID", help="the Patient in context")
    ladd.add_argument("--encounter", default=None, metavar="ID", help="the Encounter in context (default: none)")
    ladd.add_argument("--client-id", default=None, help="the app the EHR launches (others cannot use it; default: any)")
    ladd.add_argument("--tenant", default=None, type=tenant, help=TENANT_HELP)
    ladd.set_defaults(func=cmd_launch_add)
