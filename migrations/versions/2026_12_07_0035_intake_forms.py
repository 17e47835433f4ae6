"""web-to-lead intake: intake_form (a web form's key hash, field mapping, rate limits, captcha)

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db
import app.encryption

revision: str = '0035'
down_revision: str | None = '0034'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SOURCES = ('web_form', 'phone_400', 'ad', 'exhibition', 'referral', 'wecom', 'import', 'api')


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f'{target}.id'], name=op.f(f'fk_{table}_{column}_{target}'), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        'intake_form',
        sa.Column('organization_id', sa.Uuid(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('key_prefix', sa.String(length=12), nullable=False),
        sa.Column(
            'source', sa.Enum(*_SOURCES, name='leadsource', native_enum=False, length=10), nullable=False
        ),
        # No foreign key yet: the campaign table arrives with the campaigns work (issue 21).
        sa.Column('campaign_id', sa.Uuid(), nullable=True),
        sa.Column('field_mapping', app.db.JSONType, nullable=False),
        sa.Column('honeypot_field', sa.String(length=64), nullable=True),
        sa.Column('form_rate_limit', sa.Integer(), nullable=False),
        sa.Column('client_rate_limit', sa.Integer(), nullable=False),
        sa.Column('captcha_verify_url', sa.String(length=2000), nullable=True),
        sa.Column('captcha_secret', app.encryption.EncryptedText(), nullable=True),
        sa.Column('is_active', sa.Boolean(), nullable=False),
        sa.Column('created_by_id', sa.Uuid(), nullable=True),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        _fk('intake_form', 'organization_id', 'organization', 'CASCADE'),
        _fk('intake_form', 'created_by_id', 'user', 'SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_intake_form')),
        sa.UniqueConstraint('key_hash', name=op.f('uq_intake_form_key_hash')),
    )
    with op.batch_alter_table('intake_form', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_intake_form_organization_id_created_at'), ['organization_id', 'created_at']
        )


def downgrade() -> None:
    with op.batch_alter_table('intake_form', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_intake_form_organization_id_created_at'))
    op.drop_table('intake_form')
