"""export_job: lists exported as files by a job (POST /exports)

Revision ID: 0041
Revises: 0038
Create Date: 2026-12-07 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0041'
down_revision: str | None = '0038'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'export_job',
        sa.Column('organization_id', sa.Uuid(), nullable=False),
        sa.Column('created_by_id', sa.Uuid(), nullable=False),
        sa.Column('list_name', sa.String(length=32), nullable=False),
        sa.Column('filters', app.db.JSONType, nullable=False),
        sa.Column('format', sa.Enum('csv', 'xlsx', name='exportformat', native_enum=False, length=4), nullable=False),
        sa.Column(
            'status',
            sa.Enum('queued', 'running', 'done', 'failed', name='exportstatus', native_enum=False, length=7),
            nullable=False,
        ),
        sa.Column('rows_written', sa.Integer(), nullable=False),
        sa.Column('total_rows', sa.Integer(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('storage_key', sa.String(length=255), nullable=True),
        sa.Column('size_bytes', sa.Integer(), nullable=True),
        sa.Column('started_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('finished_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['created_by_id'], ['user.id'], name=op.f('fk_export_job_created_by_id_user'), ondelete='CASCADE'
        ),
        sa.ForeignKeyConstraint(
            ['organization_id'],
            ['organization.id'],
            name=op.f('fk_export_job_organization_id_organization'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_export_job')),
    )
    with op.batch_alter_table('export_job', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_export_job_organization_id_created_by_id_created_at'),
            ['organization_id', 'created_by_id', 'created_at'],
        )
        batch_op.create_index(batch_op.f('ix_export_job_status_updated_at'), ['status', 'updated_at'])


def downgrade() -> None:
    with op.batch_alter_table('export_job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_export_job_status_updated_at'))
        batch_op.drop_index(batch_op.f('ix_export_job_organization_id_created_by_id_created_at'))
    op.drop_table('export_job')
