"""import_job.warning_count and import_row_error.is_warning: an import reports the cells of the rows
it created that held a spreadsheet formula, as warnings beside its errors

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('import_job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('warning_count', sa.Integer(), nullable=False, server_default=sa.text('0')))
    with op.batch_alter_table('import_row_error', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_warning', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('import_row_error', schema=None) as batch_op:
        batch_op.drop_column('is_warning')
    with op.batch_alter_table('import_job', schema=None) as batch_op:
        batch_op.drop_column('warning_count')
