"""quote.closed_at (when the customer accepted or rejected it) and the indexes of the list filters
closed_from/closed_to on quotes and tasks and of `q` on tasks (title, notes) and activities (notes)

Revision ID: 0045_closed_periods_and_search
Revises: 0044
Create Date: 2026-12-07 23:00:00.000000

An existing accepted or rejected quote gets its last change as its closing time: the status change
was its last edit, as a closed quote can no longer be edited.

On PostgreSQL the trigram indexes are built CONCURRENTLY, outside a transaction (as in 0014): on
millions of activities the build takes minutes, and a plain CREATE INDEX would block writes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0045_closed_periods_and_search'
down_revision: str | None = '0044'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = [
    ('ix_quote_organization_id_closed_at', 'quote', ['organization_id', 'closed_at']),
    ('ix_task_organization_id_completed_at', 'task', ['organization_id', 'completed_at']),
]
_TRIGRAM_INDEXES = [('task', 'title'), ('task', 'notes'), ('activity', 'notes')]


def upgrade() -> None:
    with op.batch_alter_table('quote', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_at', app.db.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE quote SET closed_at = updated_at WHERE status IN ('accepted', 'rejected')")
    if op.get_bind().dialect.name != 'postgresql':
        for name, table, columns in _INDEXES:
            op.create_index(name, table, columns)
        return
    op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    with op.get_context().autocommit_block():
        for name, table, columns in _INDEXES:
            op.create_index(name, table, columns, postgresql_concurrently=True)
        for table, column in _TRIGRAM_INDEXES:
            op.create_index(
                f'ix_{table}_{column}_trgm',
                table,
                [column],
                postgresql_using='gin',
                postgresql_ops={column: 'gin_trgm_ops'},
                postgresql_concurrently=True,
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table, column in _TRIGRAM_INDEXES:
            op.drop_index(f'ix_{table}_{column}_trgm', table_name=table)
    for name, table, _columns in _INDEXES:
        op.drop_index(name, table_name=table)
    with op.batch_alter_table('quote', schema=None) as batch_op:
        batch_op.drop_column('closed_at')
