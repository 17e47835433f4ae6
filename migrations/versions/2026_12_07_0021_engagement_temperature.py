"""lead and customer temperature: engagement temperature stored as a value and the instant it held at

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 03:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import app.db
from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ('lead', 'customer'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('temperature', sa.Double(), nullable=True))
            batch_op.add_column(sa.Column('temperature_at', app.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in ('customer', 'lead'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('temperature_at')
            batch_op.drop_column('temperature')
