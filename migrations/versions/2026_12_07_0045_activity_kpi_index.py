"""activity: an index covering the activity KPIs (contact-heatmap, pei), so that they read a period's
calls and visits by an index-only scan instead of every activity of the period

At a million leads a 90-day window holds ~700,000 calls among 5,000,000 activities; the heatmap
read them by a parallel sequential scan of the whole table. On PostgreSQL the index is built
CONCURRENTLY, outside a transaction, as 0014's: writes to activity go on while it builds.

Revision ID: 0045_activity_kpi_index
Revises: 0044
Create Date: 2026-12-07 22:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0045_activity_kpi_index'
down_revision: str | None = '0044'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = 'ix_activity_organization_id_type_occurred_at'
COLUMNS = ['organization_id', 'type', 'occurred_at']
LIVE = sa.text('deleted_at IS NULL')


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        op.create_index(NAME, 'activity', COLUMNS, sqlite_where=LIVE)
        return
    with op.get_context().autocommit_block():
        op.create_index(
            NAME,
            'activity',
            COLUMNS,
            postgresql_include=['owner_id', 'call_outcome', 'late_entry'],
            postgresql_where=LIVE,
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    op.drop_index(NAME, table_name='activity')
