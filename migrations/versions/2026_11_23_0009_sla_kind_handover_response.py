"""sla kind column fits handover_response

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 15:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = ('first_response', 'stage_dwell', 'follow_up', 'handover_response')
_OLD_KINDS = ('first_response', 'stage_dwell', 'follow_up')


def upgrade() -> None:
    for table in ('sla_policy', 'sla_timer'):
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                'kind',
                existing_type=sa.String(length=14),
                type_=sa.Enum(*_KINDS, name='slakind', native_enum=False, length=17),
                existing_nullable=False,
            )


def downgrade() -> None:
    for table in ('sla_policy', 'sla_timer'):
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                'kind',
                existing_type=sa.String(length=17),
                type_=sa.Enum(*_OLD_KINDS, name='slakind', native_enum=False, length=14),
                existing_nullable=False,
            )
