"""Indexes for KPIs over a period: deals by close time, stage stays by entry and by exit

Revision ID: 0015
Revises: 0014a
Create Date: 2026-12-06 20:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0015'
down_revision: str | None = '0014a'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        'ix_opportunity_organization_id_closed_at', 'opportunity', ['organization_id', 'closed_at']
    )
    op.create_index('ix_stage_stay_organization_id_entered_at', 'stage_stay', ['organization_id', 'entered_at'])
    op.create_index('ix_stage_stay_organization_id_left_at', 'stage_stay', ['organization_id', 'left_at'])


def downgrade() -> None:
    op.drop_index('ix_stage_stay_organization_id_left_at', table_name='stage_stay')
    op.drop_index('ix_stage_stay_organization_id_entered_at', table_name='stage_stay')
    op.drop_index('ix_opportunity_organization_id_closed_at', table_name='opportunity')
