"""`crm`: database, tenants, demo data, server, worker and the OpenAPI document."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.bootstrap import build_infrastructure
from app.config import get_settings
from app.db import utcnow
from app.domain.identity.principal import Principal
from app.domain.models import ImportJob, ImportKind, User
from app.services import demo, organizations
from app.services.imports import imports
from app.services.platform import stored_secrets
from app.services.platform.jobs import JobRequest
from app.services.platform.unit_of_work import session_scope
from app.workers.queue import InlineQueue

cli = typer.Typer(help="Sales-management backend", no_args_is_help=True)
db_cli = typer.Typer(help="Database schema", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
secrets_cli = typer.Typer(help="Secrets stored encrypted (CRM_SECRETS_KEY)", no_args_is_help=True)
cli.add_typer(secrets_cli, name="secrets")
console = Console(stderr=True)
T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


def _run_in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Runs one use case in one transaction, then the jobs it asked for (inline unless Redis is set)."""

    async def main() -> T:
        infrastructure = build_infrastructure(get_settings())
        queue = await infrastructure.queue()
        try:
            async with session_scope(infrastructure.sessionmaker, queue) as session:
                result = await work(session)
            if isinstance(queue, InlineQueue):
                await queue.drain()
            return result
        finally:
            await queue.close()
            await infrastructure.aclose()

    return asyncio.run(main())


@db_cli.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations (creates the SQLite file under var/ when needed)."""
    _upgrade(revision)


def _upgrade(revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    settings = get_settings()
    if settings.is_sqlite:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    # The working directory's alembic.ini wins: an installed package (Docker image) has none of its own.
    local = Path("alembic.ini")
    config = Config(str(local if local.exists() else ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", settings.database_url)
    command.upgrade(config, revision)
    console.print(f"[green]database at {revision}[/green]")


@secrets_cli.command("reencrypt")
def secrets_reencrypt() -> None:
    """Encrypt every stored secret again with the first key of CRM_SECRETS_KEY (after a new key was put
    first); afterwards the other keys can be removed."""
    count = _run_in_transaction(stored_secrets.reencrypt_all)
    console.print(f"[green]{count} stored secrets encrypted with the first key[/green]")


@cli.command("create-org")
def create_org(
    name: Annotated[str, typer.Option(help="Organization name")],
    admin_username: Annotated[str, typer.Option(help="Login of the first admin")],
    admin_password: Annotated[str, typer.Option(help="Password of the first admin (8+ characters)")],
    timezone: Annotated[str | None, typer.Option(help="IANA time zone")] = None,
) -> None:
    """Create an organization and its first admin; prints JSON with both ids."""
    if len(admin_password) < 8:
        console.print("[red]the admin password needs at least 8 characters[/red]")
        raise typer.Exit(2)
    tz = timezone or get_settings().default_timezone

    async def work(session: AsyncSession) -> dict[str, str]:
        created = await organizations.create_organization(
            session, name=name, admin_username=admin_username, admin_password=admin_password, timezone=tz
        )
        return {
            "organization_id": str(created.organization.id),
            "organization_slug": created.organization.slug,
            "admin_id": str(created.admin.id),
            "admin_username": created.admin.username,
        }

    typer.echo(json.dumps(_run_in_transaction(work)))


@cli.command("seed-demo")
def seed_demo() -> None:
    """Create the demo distributor (idempotent) and print how to sign in."""
    _seed_demo("localhost:8000")


def _seed_demo(address: str) -> None:
    async def work(session: AsyncSession) -> list[demo.DemoLogin]:
        return await demo.seed_demo(session, timezone=get_settings().default_timezone)

    logins = _run_in_transaction(work)
    table = Table(title=f"Demo logins (password for all: {demo.DEMO_PASSWORD})")
    table.add_column("username")
    table.add_column("role")
    for login in logins:
        table.add_row(login.username, login.role)
    Console().print(table)
    typer.echo(
        f"Sign in: curl -s -X POST {address}/api/v1/auth/token "
        f"-d username=demo.director -d password={demo.DEMO_PASSWORD}"
    )


import_cli = typer.Typer(help="Bulk imports from CSV/XLSX", no_args_is_help=True)
cli.add_typer(import_cli, name="import")


@import_cli.command("leads")
def import_leads(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    as_user: Annotated[str, typer.Option("--as", help="Username the import runs as (owner of the job)")],
    mapping: Annotated[
        str | None, typer.Option(help='JSON header->field map, e.g. {"客户名称": "company"}')
    ] = None,
) -> None:
    """Import leads from a CSV or XLSX file, with a progress bar; prints the job as JSON."""
    _import_file(ImportKind.leads, file, as_user, mapping)


@import_cli.command("customers")
def import_customers(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    as_user: Annotated[str, typer.Option("--as", help="Username the import runs as (owner of the job)")],
    mapping: Annotated[str | None, typer.Option(help="JSON header->field map")] = None,
) -> None:
    """Import customers from a CSV or XLSX file."""
    _import_file(ImportKind.customers, file, as_user, mapping)


@import_cli.command("opportunities")
def import_opportunities(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    as_user: Annotated[str, typer.Option("--as", help="Username the import runs as (owner of the job)")],
    mapping: Annotated[
        Path,
        typer.Option(exists=True, dir_okay=False, help="Mapping file (JSON): docs/mappings/maven-crm.json"),
    ],
) -> None:
    """Import historical opportunities; owners, customers and products must exist (matched by name)."""
    _import_file(ImportKind.opportunities, file, as_user, mapping.read_text(encoding="utf-8"))


def _import_file(kind: ImportKind, file: Path, as_user: str, mapping: str | None) -> None:
    settings = get_settings()
    column_mapping: dict[str, Any] = json.loads(mapping) if mapping else {}
    content = file.read_bytes()

    async def main() -> dict[str, object]:
        infrastructure = build_infrastructure(settings)
        sessionmaker, storage = infrastructure.sessionmaker, infrastructure.storage
        queue = _DiscardingQueue()
        try:
            async with session_scope(sessionmaker, queue) as session:
                user = await session.scalar(select(User).where(User.username == as_user.lower()))
                if user is None or not user.is_active:
                    raise typer.BadParameter(f"no active user {as_user!r}", param_hint="--as")
                actor = Principal.for_user(user.organization_id, user.id, user.role)
                job = await imports.start_import(
                    session,
                    actor=actor,
                    kind=kind,
                    filename=file.name,
                    content=content,
                    column_mapping=column_mapping,
                    storage=storage,
                )
            with Progress(console=console) as progress:
                task = progress.add_task(f"importing {file.name}", total=None)
                await imports.run_import(
                    sessionmaker,
                    queue,
                    job_id=job.id,
                    clock=utcnow,
                    storage=storage,
                    on_progress=lambda done, total: progress.update(task, completed=done, total=total),
                )
            async with sessionmaker() as session:
                finished = await session.get_one(ImportJob, job.id)
                return {
                    "id": str(finished.id),
                    "status": finished.status.value,
                    "total_rows": finished.total_rows,
                    "created": finished.created_count,
                    "duplicates": finished.duplicate_count,
                    "errors": finished.error_count,
                    "warnings": finished.warning_count,
                    "failure": finished.failure,
                }
        finally:
            await infrastructure.aclose()

    typer.echo(json.dumps(asyncio.run(main()), ensure_ascii=False))


class _DiscardingQueue:
    """The CLI runs the import itself; the outbox events it records are delivered by the
    server's sweep (or a worker), so nothing needs enqueueing here."""

    async def enqueue(self, job: JobRequest) -> None:
        return None

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None


# uvicorn kills an API process that has not answered its supervisor's ping within 5 s. On a host
# short of CPU (a throttled container, a machine under load) a process starting up or merely
# starved misses that, is killed with its requests and replaced by one that starts up as slowly:
# the soak saw the second process replaced five times in its first minute. A hung one still is.
API_PROCESS_HEALTHCHECK_SECONDS = 30


@cli.command("serve")
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(help="API processes (PostgreSQL + Redis only)")] = 1,
) -> None:
    """Run the API with uvicorn."""
    _serve(host, port, workers)


@cli.command("start")
def start(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Migrate, seed the demo distributor (once), print its logins and serve: `db upgrade`,
    `seed-demo` and `serve` in one process, so the application is imported once (scripts/start)."""
    _upgrade("head")
    _seed_demo(f"{host}:{port}")
    _serve(host, port, workers=1)


def _serve(host: str, port: int, workers: int) -> None:
    import uvicorn

    settings = get_settings()
    if workers > 1 and (settings.is_sqlite or not settings.redis_url):
        console.print(
            "[red]several API processes need PostgreSQL and Redis (CRM_DATABASE_URL, CRM_REDIS_URL)[/red]"
        )
        raise typer.Exit(2)
    uvicorn.run(
        "app.main:app",
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        timeout_worker_healthcheck=API_PROCESS_HEALTHCHECK_SECONDS,
    )


@cli.command("worker")
def worker(
    check: Annotated[
        bool, typer.Option("--check", help="Exit 0 if this host's worker wrote its heartbeat lately, else 1")
    ] = False,
) -> None:
    """Run an arq worker (needs CRM_REDIS_URL)."""
    from arq.connections import RedisSettings
    from arq.worker import async_check_health, get_kwargs

    from app.workers.settings import ResilientWorker, WorkerSettings, health_check_key

    redis_url = get_settings().redis_url
    if not redis_url:
        console.print("[red]CRM_REDIS_URL is not set: without Redis the API runs jobs in-process[/red]")
        raise typer.Exit(2)
    if check:
        # Plain settings: the check must fail fast while Redis is down, not retry like the worker.
        raise typer.Exit(
            asyncio.run(async_check_health(RedisSettings.from_dsn(redis_url), health_check_key()))
        )
    options: dict[str, Any] = dict(get_kwargs(WorkerSettings))  # type: ignore[arg-type]
    ResilientWorker(**options).run()


@cli.command("openapi")
def openapi(
    output: Annotated[Path, typer.Option(help="Where to write the document; - for stdout")] = ROOT
    / "openapi"
    / "openapi.json",
) -> None:
    """Write the OpenAPI document the app serves."""
    from app.main import create_app

    document = render_openapi(create_app().openapi())
    if str(output) == "-":
        sys.stdout.write(document)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(document, encoding="utf-8")
    console.print(f"wrote {output}")


def render_openapi(schema: dict[str, object]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    cli()
