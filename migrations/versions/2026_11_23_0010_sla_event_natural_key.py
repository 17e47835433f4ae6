"""sla_event keyed by (timer, state, level) and naming who was notified

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sla_event') as batch:
        batch.drop_constraint('uq_sla_event_timer_id_state_level', type_='unique')
        batch.drop_constraint('pk_sla_event', type_='primary')
        batch.drop_column('id')
        batch.create_primary_key('pk_sla_event', ['timer_id', 'state', 'level'])
        batch.add_column(
            sa.Column('notify_user_ids', app.db.JSONType, nullable=False, server_default=sa.text("'[]'"))
        )
    with op.batch_alter_table('sla_event') as batch:
        batch.alter_column('notify_user_ids', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('sla_event') as batch:
        batch.drop_column('notify_user_ids')
        batch.drop_constraint('pk_sla_event', type_='primary')
        batch.add_column(sa.Column('id', sa.Uuid(), nullable=True))
    op.execute(
        "UPDATE sla_event SET id = gen_random_uuid()"
        if op.get_bind().dialect.name == 'postgresql'
        else "UPDATE sla_event SET id = lower(hex(randomblob(16)))"
    )
    with op.batch_alter_table('sla_event') as batch:
        batch.alter_column('id', existing_type=sa.Uuid(), nullable=False)
        batch.create_primary_key('pk_sla_event', ['id'])
        batch.create_unique_constraint('uq_sla_event_timer_id_state_level', ['timer_id', 'state', 'level'])
