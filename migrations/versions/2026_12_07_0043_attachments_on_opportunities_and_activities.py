"""attachment parent_type fits opportunity and activity

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-07 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0043'
down_revision: str | None = '0042'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PARENTS = ('lead', 'customer', 'opportunity', 'activity')
_OLD_PARENTS = ('lead', 'customer')


def upgrade() -> None:
    with op.batch_alter_table('attachment') as batch:
        batch.alter_column(
            'parent_type',
            existing_type=sa.String(length=8),
            type_=sa.Enum(*_PARENTS, name='attachmentparent', native_enum=False, length=11),
            existing_nullable=False,
        )


def downgrade() -> None:
    # The old column cannot name these parents; their files stay in storage, unreferenced.
    attachment = sa.table('attachment', sa.column('parent_type', sa.String()))
    op.execute(attachment.delete().where(attachment.c.parent_type.not_in(_OLD_PARENTS)))
    with op.batch_alter_table('attachment') as batch:
        batch.alter_column(
            'parent_type',
            existing_type=sa.String(length=11),
            type_=sa.Enum(*_OLD_PARENTS, name='attachmentparent', native_enum=False, length=8),
            existing_nullable=False,
        )
