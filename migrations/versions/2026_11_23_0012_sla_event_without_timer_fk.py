"""sla_event without the foreign key to sla_timer: the sweep inserts events only for timers it
holds locked, timers are deleted only with their organization (whose key on sla_event cascades),
and the per-row check was the largest cost of the sweep's INSERT

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 19:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sla_event') as batch:
        batch.drop_constraint('fk_sla_event_timer_id_sla_timer', type_='foreignkey')


def downgrade() -> None:
    with op.batch_alter_table('sla_event') as batch:
        batch.create_foreign_key(
            'fk_sla_event_timer_id_sla_timer', 'sla_timer', ['timer_id'], ['id'], ondelete='CASCADE'
        )
