"""lead.created_by_id: who entered a lead, so marketing reads the leads it entered to their outcome

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-07 19:30:00.000000

Nothing is backfilled: who entered an existing lead was never recorded (its `lead.created` audit
row names the actor, but an import's rows and a form's leads name none), so older leads stay
unattributed and marketing sees them as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0044'
down_revision: str | None = '0043'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_by_id', sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_lead_created_by_id_user'), 'user', ['created_by_id'], ['id'], ondelete='SET NULL'
        )
        batch_op.create_index(
            batch_op.f('ix_lead_organization_id_created_by_id_created_at'),
            ['organization_id', 'created_by_id', 'created_at'],
        )


def downgrade() -> None:
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lead_organization_id_created_by_id_created_at'))
        batch_op.drop_constraint(batch_op.f('fk_lead_created_by_id_user'), type_='foreignkey')
        batch_op.drop_column('created_by_id')
