"""the indexes of the list filters: sort=name on leads, customers and opportunities, and ?tag= on
leads and customers (GIN over the JSONB tags, PostgreSQL only)

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-07 19:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0042'
down_revision: str | None = '0041'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME_INDEXES = ('lead', 'customer', 'opportunity')
_TAG_INDEXES = ('lead', 'customer')


def upgrade() -> None:
    for table in _NAME_INDEXES:
        op.create_index(f'ix_{table}_organization_id_name', table, ['organization_id', 'name'])
    if op.get_bind().dialect.name == 'postgresql':
        for table in _TAG_INDEXES:
            op.create_index(f'ix_{table}_tags', table, ['tags'], postgresql_using='gin')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in _TAG_INDEXES:
            op.drop_index(f'ix_{table}_tags', table_name=table)
    for table in _NAME_INDEXES:
        op.drop_index(f'ix_{table}_organization_id_name', table_name=table)
