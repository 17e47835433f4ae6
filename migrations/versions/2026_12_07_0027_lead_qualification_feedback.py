"""lead qualification (who and when) and sales' feedback on a lead (quality 1-5, reasons)

Revision ID: 0027
Revises: 0024
Create Date: 2026-12-07 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0027'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.add_column(sa.Column('qualified_at', app.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('qualified_by_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('feedback_quality', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('feedback_reasons', app.db.JSONType, server_default=sa.text("'[]'"), nullable=False))
        batch_op.add_column(sa.Column('feedback_comment', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('feedback_by_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('feedback_at', app.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_lead_qualified_by_id_user'), 'user', ['qualified_by_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_lead_feedback_by_id_user'), 'user', ['feedback_by_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_lead_feedback_by_id_user'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_lead_qualified_by_id_user'), type_='foreignkey')
        for column in ('feedback_at', 'feedback_by_id', 'feedback_comment', 'feedback_reasons', 'feedback_quality', 'qualified_by_id', 'qualified_at'):
            batch_op.drop_column(column)
