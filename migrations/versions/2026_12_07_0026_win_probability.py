"""win probability: trained models per organization, the automatic and the manual probability on
the opportunity (with the index its sort reads), and the amount each stage stay began with

Revision ID: 0026
Revises: 0023
Create Date: 2026-12-07 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0026'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'win_model',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('organization_id', sa.Uuid(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('trained_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('cut_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_deals', sa.Integer(), nullable=False),
        sa.Column('chosen', sa.String(length=32), nullable=True),
        sa.Column('signal', sa.String(length=16), nullable=True),
        sa.Column('model', app.db.JSONType, nullable=True),
        sa.Column('baseline', app.db.JSONType, nullable=True),
        sa.Column('metrics', app.db.JSONType, nullable=False),
        sa.ForeignKeyConstraint(
            ['organization_id'], ['organization.id'], name=op.f('fk_win_model_organization_id_organization'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_win_model')),
        sa.UniqueConstraint('organization_id', 'number', name=op.f('uq_win_model_organization_id_number')),
    )
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('win_probability', sa.Double(), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('manual_win_probability', sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f('ix_opportunity_organization_id_win_probability_id'),
            ['organization_id', 'win_probability', 'id'],
            unique=False,
        )
    with op.batch_alter_table('stage_stay', schema=None) as batch_op:
        batch_op.add_column(sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=True))
    # Until a model is trained every deal reads its stage's probability (won 100, lost 0).
    op.execute(
        'UPDATE opportunity SET win_probability = '
        '(SELECT probability FROM pipeline_stage WHERE pipeline_stage.id = opportunity.stage_id)'
    )


def downgrade() -> None:
    with op.batch_alter_table('stage_stay', schema=None) as batch_op:
        batch_op.drop_column('amount')
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opportunity_organization_id_win_probability_id'))
        batch_op.drop_column('manual_win_probability')
        batch_op.drop_column('win_probability')
    op.drop_table('win_model')
