"""activity and lead: indexes covering the KPIs that read a period's records, so that they read
them by an index-only scan instead of one table page per record

- activity `(organization_id, type, occurred_at)` of live activities, on PostgreSQL including
  owner, call outcome and late entry: contact-heatmap and pei (a 90-day window at a million leads
  holds ~700,000 calls among 5,000,000 activities, read by a parallel sequential scan before).
- lead `(organization_id, created_at)` of live leads, PostgreSQL only, including the columns the
  lead KPIs count (lead-response, handover, lead-utilization, the daily brief's new leads and
  trend): a period's leads lie one per table page, ~7,700 pages for 24,000 leads at 100k leads,
  ~320 index pages.

On PostgreSQL the indexes are built CONCURRENTLY, outside a transaction, as 0014's: writes go on
while they build.

Revision ID: 0046_kpi_covering_indexes
Revises: 0045_closed_periods_and_search
Create Date: 2026-12-07 22:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0046_kpi_covering_indexes'
down_revision: str | None = '0045_closed_periods_and_search'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVITY_INDEX = 'ix_activity_organization_id_type_occurred_at'
ACTIVITY_COLUMNS = ['organization_id', 'type', 'occurred_at']
LEAD_INDEX = 'ix_lead_received_for_kpis'
LIVE = sa.text('deleted_at IS NULL')


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        op.create_index(ACTIVITY_INDEX, 'activity', ACTIVITY_COLUMNS, sqlite_where=LIVE)
        return
    with op.get_context().autocommit_block():
        op.create_index(
            ACTIVITY_INDEX,
            'activity',
            ACTIVITY_COLUMNS,
            postgresql_include=['owner_id', 'call_outcome', 'late_entry'],
            postgresql_where=LIVE,
            postgresql_concurrently=True,
        )
        op.create_index(
            LEAD_INDEX,
            'lead',
            ['organization_id', 'created_at'],
            postgresql_include=[
                'id',
                'owner_id',
                'status',
                'first_response_at',
                'last_effective_follow_up_at',
                'merged_into_id',
            ],
            postgresql_where=LIVE,
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index(LEAD_INDEX, table_name='lead')
    op.drop_index(ACTIVITY_INDEX, table_name='activity')
