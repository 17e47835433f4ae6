"""engagement_event (idempotent per event id) and the lead intent score's breakdown: lead.score becomes
0-100, never null, with score_breakdown and scored_at; indexes for sort=-score and for finding a
contact by phone or e-mail

Revision ID: 0022
Revises: 0028
Create Date: 2026-12-07 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0022'
down_revision: str | None = '0028'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENGAGEMENT_TYPES = (
    'email_open', 'link_click', 'doc_view', 'video_view', 'trial_login', 'meeting_attended', 'wechat_reply',
    'form_submit',
)


def upgrade() -> None:
    op.create_table('engagement_event',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('type', sa.Enum(*ENGAGEMENT_TYPES, name='engagementtype', native_enum=False), nullable=False),
    sa.Column('occurred_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('weight', sa.Double(), nullable=False),
    sa.Column('lead_id', sa.Uuid(), nullable=True),
    sa.Column('contact_id', sa.Uuid(), nullable=True),
    sa.Column('customer_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_engagement_event_contact_id_contact'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_engagement_event_customer_id_customer'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lead_id'], ['lead.id'], name=op.f('fk_engagement_event_lead_id_lead'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_engagement_event_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engagement_event')),
    sa.UniqueConstraint('organization_id', 'event_id', name=op.f('uq_engagement_event_organization_id_event_id'))
    )
    with op.batch_alter_table('engagement_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_engagement_event_organization_id_customer_id_occurred_at'), ['organization_id', 'customer_id', 'occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_engagement_event_organization_id_lead_id_type'), ['organization_id', 'lead_id', 'type'], unique=False)

    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_organization_id_email'), ['organization_id', 'email'], unique=False)
        batch_op.create_index(batch_op.f('ix_contact_organization_id_phone'), ['organization_id', 'phone'], unique=False)

    # Nothing set lead.score before: a lead not changed since reads 0 with an empty breakdown (the
    # breakdown still sums to the score) until its next activity, event or edit scores it.
    op.execute("UPDATE lead SET score = 0 WHERE score IS NULL")
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.add_column(sa.Column('score_breakdown', app.db.JSONType, server_default=sa.text("'[]'"), nullable=False))
        batch_op.add_column(sa.Column('scored_at', app.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.alter_column('score', existing_type=sa.Integer(), nullable=False, server_default=sa.text('0'))
        batch_op.create_index(batch_op.f('ix_lead_organization_id_score_id'), ['organization_id', 'score', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lead_organization_id_score_id'))
        batch_op.alter_column('score', existing_type=sa.Integer(), nullable=True, server_default=None)
        batch_op.drop_column('scored_at')
        batch_op.drop_column('score_breakdown')

    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_organization_id_phone'))
        batch_op.drop_index(batch_op.f('ix_contact_organization_id_email'))

    with op.batch_alter_table('engagement_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_engagement_event_organization_id_lead_id_type'))
        batch_op.drop_index(batch_op.f('ix_engagement_event_organization_id_customer_id_occurred_at'))

    op.drop_table('engagement_event')
