"""tasks on every record: a task links to a lead (besides a customer or opportunity), records who
asked for it, and when its due and overdue reminders went out (each once)

Tasks already past due when this runs are marked as reminded, so upgrading does not announce a
backlog of old tasks at once; tasks due later are reminded as usual.

Revision ID: 0030
Revises: 0032
Create Date: 2026-12-07 12:40:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0030'
down_revision: str | None = '0032'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TO_REMIND = sa.text("status = 'open' AND overdue_notified_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lead_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('created_by_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('due_notified_at', app.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column('overdue_notified_at', app.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_task_lead_id_lead'), 'lead', ['lead_id'], ['id'], ondelete='CASCADE'
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_task_created_by_id_user'), 'user', ['created_by_id'], ['id'], ondelete='SET NULL'
        )
        batch_op.create_index(batch_op.f('ix_task_organization_id_lead_id'), ['organization_id', 'lead_id'])
        batch_op.create_index(
            batch_op.f('ix_task_organization_id_customer_id'), ['organization_id', 'customer_id']
        )
        batch_op.create_index(
            batch_op.f('ix_task_organization_id_created_by_id'), ['organization_id', 'created_by_id']
        )
    now = datetime.now(UTC)
    task = sa.table(
        'task',
        sa.column('due_at', app.db.UTCDateTime(timezone=True)),
        sa.column('due_notified_at', app.db.UTCDateTime(timezone=True)),
        sa.column('overdue_notified_at', app.db.UTCDateTime(timezone=True)),
    )
    op.execute(
        task.update()
        .where(task.c.due_at <= now)
        .values(due_notified_at=now, overdue_notified_at=now)
    )
    op.create_index(
        'ix_task_to_remind', 'task', ['due_at'], postgresql_where=TO_REMIND, sqlite_where=TO_REMIND
    )


def downgrade() -> None:
    op.drop_index('ix_task_to_remind', table_name='task')
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_organization_id_created_by_id'))
        batch_op.drop_index(batch_op.f('ix_task_organization_id_customer_id'))
        batch_op.drop_index(batch_op.f('ix_task_organization_id_lead_id'))
        batch_op.drop_constraint(batch_op.f('fk_task_created_by_id_user'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_task_lead_id_lead'), type_='foreignkey')
        batch_op.drop_column('overdue_notified_at')
        batch_op.drop_column('due_notified_at')
        batch_op.drop_column('created_by_id')
        batch_op.drop_column('lead_id')
