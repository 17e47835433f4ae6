"""contacts first-class (buying role, role note, custom fields), custom fields on opportunities and
activities, and the indexes the global contact list and the global search read

Revision ID: 0040
Revises: 0036
Create Date: 2026-12-07 15:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0040'
down_revision: str | None = '0036'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BUYING_ROLES = ('decision_maker', 'influencer', 'user', 'gatekeeper', 'other')
_CUSTOM_FIELD_TABLES = ('contact', 'opportunity', 'activity')
_INDEXES = [
    ('ix_contact_organization_id_created_at', 'contact', ['organization_id', 'created_at']),
    ('ix_contact_organization_id_updated_at', 'contact', ['organization_id', 'updated_at']),
    ('ix_contact_organization_id_name', 'contact', ['organization_id', 'name']),
]
# ILIKE '%text%' over names, and LIKE '%digits%' over phone numbers typed in part (the global search
# and GET /contacts?q=).
_TRIGRAM_INDEXES = [
    ('contact', 'name'),
    ('contact', 'phone'),
    ('contact', 'email'),
    ('customer', 'phone'),
    ('opportunity', 'name'),
]


def upgrade() -> None:
    for table in _CUSTOM_FIELD_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column('custom_fields', app.db.JSONType, nullable=False, server_default=sa.text("'{}'"))
            )
            if table == 'contact':
                batch_op.add_column(
                    sa.Column(
                        'buying_role',
                        sa.Enum(*_BUYING_ROLES, name='buyingrole', native_enum=False, length=14),
                        nullable=True,
                    )
                )
                batch_op.add_column(sa.Column('role_note', sa.String(length=500), nullable=True))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('custom_fields', server_default=None)
    # A contact marked as a decision maker before roles existed keeps that place in the chain.
    op.execute("UPDATE contact SET buying_role = 'decision_maker' WHERE is_decision_maker")
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        for table, column in _TRIGRAM_INDEXES:
            op.create_index(
                f'ix_{table}_{column}_trgm',
                table,
                [column],
                postgresql_using='gin',
                postgresql_ops={column: 'gin_trgm_ops'},
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table, column in _TRIGRAM_INDEXES:
            op.drop_index(f'ix_{table}_{column}_trgm', table_name=table)
    for name, table, _columns in _INDEXES:
        op.drop_index(name, table_name=table)
    for table in _CUSTOM_FIELD_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table == 'contact':
                batch_op.drop_column('role_note')
                batch_op.drop_column('buying_role')
            batch_op.drop_column('custom_fields')
