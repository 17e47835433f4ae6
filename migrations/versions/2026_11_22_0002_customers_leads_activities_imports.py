"""customers leads activities imports

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sequence_counter',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_sequence_counter_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', 'name', name=op.f('pk_sequence_counter'))
    )
    op.create_table('attachment',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('parent_type', sa.Enum('lead', 'customer', name='attachmentparent', native_enum=False), nullable=False),
    sa.Column('parent_id', sa.Uuid(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('storage_key', sa.String(length=255), nullable=False),
    sa.Column('uploaded_by_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_attachment_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['user.id'], name=op.f('fk_attachment_uploaded_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attachment'))
    )
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attachment_organization_id_parent_type_parent_id'), ['organization_id', 'parent_type', 'parent_id'], unique=False)

    op.create_table('customer',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_key', sa.String(length=200), nullable=False),
    sa.Column('industry', sa.String(length=64), nullable=True),
    sa.Column('region', sa.String(length=64), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('latitude', sa.Double(), nullable=True),
    sa.Column('longitude', sa.Double(), nullable=True),
    sa.Column('annual_purchase', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('tier', sa.Enum('A', 'B', 'C', name='tier', native_enum=False), nullable=False),
    sa.Column('owner_id', sa.Uuid(), nullable=True),
    sa.Column('tags', app.db.JSONType, nullable=False),
    sa.Column('custom_fields', app.db.JSONType, nullable=False),
    sa.Column('last_follow_up_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_customer_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_id'], ['user.id'], name=op.f('fk_customer_owner_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer')),
    sa.UniqueConstraint('organization_id', 'code', name=op.f('uq_customer_organization_id_code'))
    )
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_organization_id_name_key'), ['organization_id', 'name_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_organization_id_owner_id'), ['organization_id', 'owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_organization_id_updated_at'), ['organization_id', 'updated_at'], unique=False)

    op.create_table('import_job',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.Enum('leads', 'customers', name='importkind', native_enum=False), nullable=False),
    sa.Column('status', sa.Enum('queued', 'running', 'completed', 'failed', name='importstatus', native_enum=False), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('storage_key', sa.String(length=255), nullable=False),
    sa.Column('column_mapping', app.db.JSONType, nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('total_rows', sa.Integer(), nullable=True),
    sa.Column('processed_rows', sa.Integer(), nullable=False),
    sa.Column('created_count', sa.Integer(), nullable=False),
    sa.Column('duplicate_count', sa.Integer(), nullable=False),
    sa.Column('error_count', sa.Integer(), nullable=False),
    sa.Column('started_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failure', sa.Text(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_import_job_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_import_job_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_job'))
    )
    with op.batch_alter_table('import_job', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_job_organization_id_created_at'), ['organization_id', 'created_at'], unique=False)

    op.create_table('contact',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('wechat_id', sa.String(length=64), nullable=True),
    sa.Column('is_decision_maker', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_contact_customer_id_customer'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_contact_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact'))
    )
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_organization_id_customer_id'), ['organization_id', 'customer_id'], unique=False)

    op.create_table('import_row_error',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('import_job_id', sa.Uuid(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=True),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['import_job_id'], ['import_job.id'], name=op.f('fk_import_row_error_import_job_id_import_job'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_import_row_error_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_row_error'))
    )
    with op.batch_alter_table('import_row_error', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_row_error_import_job_id_row_number'), ['import_job_id', 'row_number'], unique=False)

    op.create_table('lead',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('company', sa.String(length=200), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('wechat', sa.String(length=64), nullable=True),
    sa.Column('phone_key', sa.String(length=20), nullable=True),
    sa.Column('email_key', sa.String(length=254), nullable=True),
    sa.Column('company_key', sa.String(length=200), nullable=True),
    sa.Column('source', sa.Enum('web_form', 'phone_400', 'ad', 'exhibition', 'referral', 'wecom', 'import', 'api', name='leadsource', native_enum=False), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=True),
    sa.Column('product_line', sa.String(length=64), nullable=True),
    sa.Column('industry', sa.String(length=64), nullable=True),
    sa.Column('budget', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('status', sa.Enum('new', 'assigned', 'contacted', 'qualified', 'converted', 'disqualified', name='leadstatus', native_enum=False), nullable=False),
    sa.Column('owner_id', sa.Uuid(), nullable=True),
    sa.Column('assigned_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('first_response_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_follow_up_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_effective_follow_up_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('customer_id', sa.Uuid(), nullable=True),
    sa.Column('converted_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('disqualified_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('disqualified_reason', sa.String(length=500), nullable=True),
    sa.Column('possible_duplicates', app.db.JSONType, nullable=False),
    sa.Column('tags', app.db.JSONType, nullable=False),
    sa.Column('custom_fields', app.db.JSONType, nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_lead_customer_id_customer'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_lead_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_id'], ['user.id'], name=op.f('fk_lead_owner_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lead')),
    sa.UniqueConstraint('organization_id', 'email_key', name=op.f('uq_lead_organization_id_email_key')),
    sa.UniqueConstraint('organization_id', 'phone_key', name=op.f('uq_lead_organization_id_phone_key'))
    )
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lead_organization_id_company_key'), ['organization_id', 'company_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_organization_id_created_at'), ['organization_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_organization_id_owner_id_status'), ['organization_id', 'owner_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_organization_id_updated_at'), ['organization_id', 'updated_at'], unique=False)

    op.create_table('activity',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('type', sa.Enum('call', 'visit', 'meeting', 'email', 'message', 'demo', 'quote_sent', 'note', name='activitytype', native_enum=False), nullable=False),
    sa.Column('occurred_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('owner_id', sa.Uuid(), nullable=True),
    sa.Column('lead_id', sa.Uuid(), nullable=True),
    sa.Column('customer_id', sa.Uuid(), nullable=True),
    sa.Column('opportunity_id', sa.Uuid(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('info_points', app.db.JSONType, nullable=False),
    sa.Column('call_outcome', sa.Enum('connected', 'no_answer', 'busy', 'rejected', 'wrong_number', name='calloutcome', native_enum=False), nullable=True),
    sa.Column('duration_seconds', sa.Integer(), nullable=True),
    sa.Column('latitude', sa.Double(), nullable=True),
    sa.Column('longitude', sa.Double(), nullable=True),
    sa.Column('accuracy_m', sa.Double(), nullable=True),
    sa.Column('distance_m', sa.Double(), nullable=True),
    sa.Column('has_geo_mismatch', sa.Boolean(), nullable=False),
    sa.Column('is_effective', sa.Boolean(), nullable=False),
    sa.Column('attachment_ids', app.db.JSONType, nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_activity_customer_id_customer'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lead_id'], ['lead.id'], name=op.f('fk_activity_lead_id_lead'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_activity_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_id'], ['user.id'], name=op.f('fk_activity_owner_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity')),
    sa.UniqueConstraint('organization_id', 'client_id', name=op.f('uq_activity_organization_id_client_id'))
    )
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_organization_id_customer_id_occurred_at'), ['organization_id', 'customer_id', 'occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_organization_id_lead_id_occurred_at'), ['organization_id', 'lead_id', 'occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_organization_id_owner_id_occurred_at'), ['organization_id', 'owner_id', 'occurred_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_organization_id_owner_id_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_activity_organization_id_lead_id_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_activity_organization_id_customer_id_occurred_at'))

    op.drop_table('activity')
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lead_organization_id_updated_at'))
        batch_op.drop_index(batch_op.f('ix_lead_organization_id_owner_id_status'))
        batch_op.drop_index(batch_op.f('ix_lead_organization_id_created_at'))
        batch_op.drop_index(batch_op.f('ix_lead_organization_id_company_key'))

    op.drop_table('lead')
    with op.batch_alter_table('import_row_error', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_row_error_import_job_id_row_number'))

    op.drop_table('import_row_error')
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_organization_id_customer_id'))

    op.drop_table('contact')
    with op.batch_alter_table('import_job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_job_organization_id_created_at'))

    op.drop_table('import_job')
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_organization_id_updated_at'))
        batch_op.drop_index(batch_op.f('ix_customer_organization_id_owner_id'))
        batch_op.drop_index(batch_op.f('ix_customer_organization_id_name_key'))

    op.drop_table('customer')
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attachment_organization_id_parent_type_parent_id'))

    op.drop_table('attachment')
    op.drop_table('sequence_counter')
