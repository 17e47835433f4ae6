"""webhook signing secrets and notification-channel configs encrypted at rest with CRM_SECRETS_KEY;
webhook secret rotation (previous_secret signs until previous_secret_expires_at)

The rows already there are encrypted here, and stored Idempotency-Key answers that showed a secret
(a webhook's or an API key's) are stored with `secret: null`, so after the upgrade no secret is left in
the clear.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 20:30:00.000000
"""

import json
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

import app.db
import app.encryption

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rewrite(table: str, column: str, change: Callable[[str], str]) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text(f"SELECT id, {column} FROM {table}")).all()
    for row_id, value in rows:
        bind.execute(
            sa.text(f"UPDATE {table} SET {column} = :value WHERE id = :id"),
            {"value": change(value), "id": row_id},
        )


def _json_text(value: object) -> str:
    # PostgreSQL hands the former JSONB column over as text, SQLite's JSON column as text or a dict.
    parsed = json.loads(value) if isinstance(value, str) else value
    return json.dumps(parsed, ensure_ascii=False, separators=(",", ":"))


def _without_shown_secrets() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, response_body FROM idempotency_record")).all()
    for row_id, body in rows:
        if body is None or b'"secret"' not in bytes(body):
            continue
        answer = json.loads(bytes(body))
        if isinstance(answer, dict) and "secret" in answer:
            answer["secret"] = None
            bind.execute(
                sa.text("UPDATE idempotency_record SET response_body = :body WHERE id = :id"),
                {"body": json.dumps(answer, separators=(",", ":")).encode(), "id": row_id},
            )


def upgrade() -> None:
    ring = app.encryption.key_ring()
    postgresql = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("webhook_subscription", schema=None) as batch_op:
        batch_op.alter_column(
            "secret", existing_type=sa.String(length=100), type_=sa.Text(), existing_nullable=False
        )
        batch_op.add_column(sa.Column("previous_secret", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("previous_secret_expires_at", app.db.UTCDateTime(), nullable=True))
    _rewrite("webhook_subscription", "secret", ring.encrypt)
    with op.batch_alter_table("notification_channel", schema=None) as batch_op:
        batch_op.alter_column(
            "config",
            existing_type=app.db.JSONType,
            type_=sa.Text(),
            existing_nullable=False,
            **({"postgresql_using": "config::text"} if postgresql else {}),
        )
    _rewrite("notification_channel", "config", lambda value: ring.encrypt(_json_text(value)))
    _without_shown_secrets()


def downgrade() -> None:
    ring = app.encryption.key_ring()
    postgresql = op.get_bind().dialect.name == "postgresql"
    _rewrite("notification_channel", "config", ring.decrypt)
    with op.batch_alter_table("notification_channel", schema=None) as batch_op:
        batch_op.alter_column(
            "config",
            existing_type=sa.Text(),
            type_=app.db.JSONType,
            existing_nullable=False,
            **({"postgresql_using": "config::jsonb"} if postgresql else {}),
        )
    _rewrite("webhook_subscription", "secret", ring.decrypt)
    with op.batch_alter_table("webhook_subscription", schema=None) as batch_op:
        batch_op.drop_column("previous_secret_expires_at")
        batch_op.drop_column("previous_secret")
        batch_op.alter_column(
            "secret", existing_type=sa.Text(), type_=sa.String(length=100), existing_nullable=False
        )
