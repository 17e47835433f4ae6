"""organization.leads_rescored_on: the local day the nightly lead re-score last covered

Revision ID: 0029
Revises: 0031
Create Date: 2026-12-07 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0029'
down_revision: str | None = '0031'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.add_column(sa.Column('leads_rescored_on', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.drop_column('leads_rescored_on')
