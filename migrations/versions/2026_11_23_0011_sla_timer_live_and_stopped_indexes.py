"""sla_timer: live timers keep only the indexes the sweep and the start need; stopped timers get
their own look-ups by record and owner

Every index over live timers takes a new entry at each warning, breach and escalation; the
record and owner indexes over all timers cost the sweep about a second per 50,000 transitions
each (bench/RESULTS.md).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 19:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("state IN ('running', 'warned', 'breached', 'escalated')")
STOPPED = sa.text("state IN ('met', 'cancelled')")


def upgrade() -> None:
    op.drop_index('uq_sla_timer_active', table_name='sla_timer')
    op.drop_index('ix_sla_timer_organization_id_subject_type_subject_id', table_name='sla_timer')
    op.drop_index('ix_sla_timer_organization_id_owner_id_state', table_name='sla_timer')
    op.create_index(
        'uq_sla_timer_active',
        'sla_timer',
        ['organization_id', 'subject_id', 'policy_id'],
        unique=True,
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )
    op.create_index(
        'ix_sla_timer_stopped_subject',
        'sla_timer',
        ['organization_id', 'subject_id'],
        postgresql_where=STOPPED,
        sqlite_where=STOPPED,
    )
    op.create_index(
        'ix_sla_timer_stopped_owner',
        'sla_timer',
        ['organization_id', 'owner_id'],
        postgresql_where=STOPPED,
        sqlite_where=STOPPED,
    )


def downgrade() -> None:
    op.drop_index('ix_sla_timer_stopped_owner', table_name='sla_timer')
    op.drop_index('ix_sla_timer_stopped_subject', table_name='sla_timer')
    op.drop_index('uq_sla_timer_active', table_name='sla_timer')
    op.create_index(
        'uq_sla_timer_active',
        'sla_timer',
        ['policy_id', 'subject_id'],
        unique=True,
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )
    op.create_index(
        'ix_sla_timer_organization_id_owner_id_state', 'sla_timer', ['organization_id', 'owner_id', 'state']
    )
    op.create_index(
        'ix_sla_timer_organization_id_subject_type_subject_id',
        'sla_timer',
        ['organization_id', 'subject_type', 'subject_id'],
    )
