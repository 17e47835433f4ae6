"""lead, opportunity and customer plan_due_at: the earliest due_at of the record's open tasks and
live SLA timers, kept by triggers on task and sla_timer, indexed for the status board

Revision ID: 0047_plan_due_at
Revises: 0046_kpi_covering_indexes
Create Date: 2026-12-07 23:00:00.000000

The backfill is one set-based UPDATE per table from the rows the triggers read. The triggers and
their SQL are a frozen copy of app/domain/models/plan_due.py at this revision.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0047_plan_due_at'
down_revision: str | None = '0046_kpi_covering_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIVE_STATES = "('running', 'warned', 'breached', 'escalated')"
# Each kind's (subject id expression over task t, condition attributing the task to that kind).
_TASK_SUBJECT = {
    'lead': ('t.lead_id', 't.opportunity_id IS NULL AND t.customer_id IS NULL AND t.lead_id IS NOT NULL'),
    'opportunity': ('t.opportunity_id', 't.opportunity_id IS NOT NULL'),
    'customer': ('t.customer_id', 't.opportunity_id IS NULL AND t.customer_id IS NOT NULL'),
}
# The columns the board filters and counts on, included so the counts read the index alone:
# (the organization's index, one owner's index).
_INDEXED = {
    'lead': (['status', 'owner_id', 'deleted_at'], ['status', 'deleted_at']),
    'opportunity': (['status', 'owner_id'], ['status']),
}
_FOLLOWED_CUSTOMER = sa.text('plan_due_at IS NOT NULL')

_POSTGRESQL_DDL = [
    '''
CREATE OR REPLACE FUNCTION crm_refresh_plan_due(kind text, org uuid, subject uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    due timestamptz;
BEGIN
IF kind = 'lead' THEN
    PERFORM 1 FROM lead WHERE id = subject FOR NO KEY UPDATE;
    due := LEAST((SELECT min(t.due_at) FROM task t WHERE t.organization_id = org AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id IS NULL AND t.lead_id = subject), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = org AND s.subject_id = subject AND s.subject_type = 'lead' AND s.state IN ('running', 'warned', 'breached', 'escalated')));
    UPDATE lead SET plan_due_at = due WHERE id = subject AND plan_due_at IS DISTINCT FROM due;
END IF;
IF kind = 'opportunity' THEN
    PERFORM 1 FROM opportunity WHERE id = subject FOR NO KEY UPDATE;
    due := LEAST((SELECT min(t.due_at) FROM task t WHERE t.organization_id = org AND t.status = 'open' AND t.opportunity_id = subject), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = org AND s.subject_id = subject AND s.subject_type = 'opportunity' AND s.state IN ('running', 'warned', 'breached', 'escalated')));
    UPDATE opportunity SET plan_due_at = due WHERE id = subject AND plan_due_at IS DISTINCT FROM due;
END IF;
IF kind = 'customer' THEN
    PERFORM 1 FROM customer WHERE id = subject FOR NO KEY UPDATE;
    due := LEAST((SELECT min(t.due_at) FROM task t WHERE t.organization_id = org AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id = subject), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = org AND s.subject_id = subject AND s.subject_type = 'customer' AND s.state IN ('running', 'warned', 'breached', 'escalated')));
    UPDATE customer SET plan_due_at = due WHERE id = subject AND plan_due_at IS DISTINCT FROM due;
END IF;
END
$$
''',
    '''
CREATE OR REPLACE FUNCTION crm_task_plan_due() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_kind text;
    old_subject uuid;
    new_kind text;
    new_subject uuid;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'open' THEN
        old_kind := CASE WHEN OLD.opportunity_id IS NOT NULL THEN 'opportunity'
                         WHEN OLD.customer_id IS NOT NULL THEN 'customer' ELSE 'lead' END;
        old_subject := COALESCE(OLD.opportunity_id, OLD.customer_id, OLD.lead_id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status = 'open' THEN
        new_kind := CASE WHEN NEW.opportunity_id IS NOT NULL THEN 'opportunity'
                         WHEN NEW.customer_id IS NOT NULL THEN 'customer' ELSE 'lead' END;
        new_subject := COALESCE(NEW.opportunity_id, NEW.customer_id, NEW.lead_id);
    END IF;
    IF TG_OP = 'UPDATE' AND old_subject IS NOT DISTINCT FROM new_subject AND OLD.due_at = NEW.due_at THEN
        RETURN NULL;  -- still open on the same record at the same instant, or closed before and after
    END IF;
    IF old_subject IS NOT NULL THEN
        PERFORM crm_refresh_plan_due(old_kind, OLD.organization_id, old_subject);
    END IF;
    IF new_subject IS DISTINCT FROM old_subject THEN
        PERFORM crm_refresh_plan_due(new_kind, NEW.organization_id, new_subject);
    END IF;
    RETURN NULL;
END
$$
''',
    '''
CREATE OR REPLACE FUNCTION crm_sla_timer_plan_due() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_live boolean := TG_OP IN ('UPDATE', 'DELETE') AND OLD.state IN ('running', 'warned', 'breached', 'escalated');
    new_live boolean := TG_OP IN ('INSERT', 'UPDATE') AND NEW.state IN ('running', 'warned', 'breached', 'escalated');
BEGIN
    IF TG_OP = 'UPDATE' AND old_live = new_live AND OLD.subject_id = NEW.subject_id
       AND OLD.subject_type = NEW.subject_type AND OLD.due_at = NEW.due_at THEN
        RETURN NULL;  -- a warning, breach or escalation: still live, due at the same instant
    END IF;
    IF old_live THEN
        PERFORM crm_refresh_plan_due(OLD.subject_type, OLD.organization_id, OLD.subject_id);
    END IF;
    -- The old record's refresh reads the new row too: the new one needs its own when it differs.
    IF new_live AND NOT (old_live AND OLD.subject_id = NEW.subject_id) THEN
        PERFORM crm_refresh_plan_due(NEW.subject_type, NEW.organization_id, NEW.subject_id);
    END IF;
    RETURN NULL;
END
$$
''',
    'CREATE TRIGGER task_plan_due AFTER INSERT OR DELETE OR UPDATE OF status, due_at, opportunity_id, customer_id, lead_id ON task FOR EACH ROW EXECUTE FUNCTION crm_task_plan_due()',
    'CREATE TRIGGER sla_timer_plan_due AFTER INSERT OR DELETE OR UPDATE OF state, due_at, subject_id, subject_type ON sla_timer FOR EACH ROW EXECUTE FUNCTION crm_sla_timer_plan_due()',
]

_SQLITE_DDL = [
    "CREATE TRIGGER task_plan_due_insert AFTER INSERT ON task FOR EACH ROW BEGIN UPDATE lead SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = lead.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id IS NULL AND t.lead_id = lead.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = lead.organization_id AND s.subject_id = lead.id AND s.subject_type = 'lead' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = lead.organization_id AND s.subject_id = lead.id AND s.subject_type = 'lead' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = lead.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id IS NULL AND t.lead_id = lead.id))) WHERE lead.id = NEW.lead_id; UPDATE opportunity SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = opportunity.organization_id AND t.status = 'open' AND t.opportunity_id = opportunity.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = opportunity.organization_id AND s.subject_id = opportunity.id AND s.subject_type = 'opportunity' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = opportunity.organization_id AND s.subject_id = opportunity.id AND s.subject_type = 'opportunity' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = opportunity.organization_id AND t.status = 'open' AND t.opportunity_id = opportunity.id))) WHERE opportunity.id = NEW.opportunity_id; UPDATE customer SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = customer.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id = customer.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = customer.organization_id AND s.subject_id = customer.id AND s.subject_type = 'customer' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = customer.organization_id AND s.subject_id = customer.id AND s.subject_type = 'customer' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = customer.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id = customer.id))) WHERE customer.id = NEW.customer_id; END",
    "CREATE TRIGGER task_plan_due_update AFTER UPDATE OF status, due_at, opportunity_id, customer_id, lead_id ON task FOR EACH ROW BEGIN UPDATE lead SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = lead.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id IS NULL AND t.lead_id = lead.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = lead.organization_id AND s.subject_id = lead.id AND s.subject_type = 'lead' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = lead.organization_id AND s.subject_id = lead.id AND s.subject_type = 'lead' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = lead.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id IS NULL AND t.lead_id = lead.id))) WHERE lead.id = OLD.lead_id; UPDATE opportunity SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = opportunity.organization_id AND t.status = 'open' AND t.opportunity_id = opportunity.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = opportunity.organization_id AND s.subject_id = opportunity.id AND s.subject_type = 'opportunity' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = opportunity.organization_id AND s.subject_id = opportunity.id AND s.subject_type = 'opportunity' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = opportunity.organization_id AND t.status = 'open' AND t.opportunity_id = opportunity.id))) WHERE opportunity.id = OLD.opportunity_id; UPDATE customer SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = customer.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id = customer.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = customer.organization_id AND s.subject_id = customer.id AND s.subject_type = 'customer' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = customer.organization_id AND s.subject_id = customer.id AND s.subject_type = 'customer' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = customer.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id = customer.id))) WHERE customer.id = OLD.customer_id; UPDATE lead SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = lead.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id IS NULL AND t.lead_id = lead.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = lead.organization_id AND s.subject_id = lead.id AND s.subject_type = 'lead' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = lead.organization_id AND s.subject_id = lead.id AND s.subject_type = 'lead' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = lead.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id IS NULL AND t.lead_id = lead.id))) WHERE lead.id = NEW.lead_id; UPDATE opportunity SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = opportunity.organization_id AND t.status = 'open' AND t.opportunity_id = opportunity.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = opportunity.organization_id AND s.subject_id = opportunity.id AND s.subject_type = 'opportunity' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = opportunity.organization_id AND s.subject_id = opportunity.id AND s.subject_type = 'opportunity' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = opportunity.organization_id AND t.status = 'open' AND t.opportunity_id = opportunity.id))) WHERE opportunity.id = NEW.opportunity_id; UPDATE customer SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = customer.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id = customer.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = customer.organization_id AND s.subject_id = customer.id AND s.subject_type = 'customer' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = customer.organization_id AND s.subject_id = customer.id AND s.subject_type = 'customer' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = customer.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id = customer.id))) WHERE customer.id = NEW.customer_id; END",
    "CREATE TRIGGER task_plan_due_delete AFTER DELETE ON task FOR EACH ROW BEGIN UPDATE lead SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = lead.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id IS NULL AND t.lead_id = lead.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = lead.organization_id AND s.subject_id = lead.id AND s.subject_type = 'lead' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = lead.organization_id AND s.subject_id = lead.id AND s.subject_type = 'lead' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = lead.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id IS NULL AND t.lead_id = lead.id))) WHERE lead.id = OLD.lead_id; UPDATE opportunity SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = opportunity.organization_id AND t.status = 'open' AND t.opportunity_id = opportunity.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = opportunity.organization_id AND s.subject_id = opportunity.id AND s.subject_type = 'opportunity' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = opportunity.organization_id AND s.subject_id = opportunity.id AND s.subject_type = 'opportunity' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = opportunity.organization_id AND t.status = 'open' AND t.opportunity_id = opportunity.id))) WHERE opportunity.id = OLD.opportunity_id; UPDATE customer SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = customer.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id = customer.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = customer.organization_id AND s.subject_id = customer.id AND s.subject_type = 'customer' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = customer.organization_id AND s.subject_id = customer.id AND s.subject_type = 'customer' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = customer.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id = customer.id))) WHERE customer.id = OLD.customer_id; END",
    "CREATE TRIGGER sla_timer_plan_due_insert AFTER INSERT ON sla_timer FOR EACH ROW BEGIN UPDATE lead SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = lead.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id IS NULL AND t.lead_id = lead.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = lead.organization_id AND s.subject_id = lead.id AND s.subject_type = 'lead' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = lead.organization_id AND s.subject_id = lead.id AND s.subject_type = 'lead' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = lead.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id IS NULL AND t.lead_id = lead.id))) WHERE lead.id = NEW.subject_id; UPDATE opportunity SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = opportunity.organization_id AND t.status = 'open' AND t.opportunity_id = opportunity.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = opportunity.organization_id AND s.subject_id = opportunity.id AND s.subject_type = 'opportunity' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = opportunity.organization_id AND s.subject_id = opportunity.id AND s.subject_type = 'opportunity' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = opportunity.organization_id AND t.status = 'open' AND t.opportunity_id = opportunity.id))) WHERE opportunity.id = NEW.subject_id; UPDATE customer SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = customer.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id = customer.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = customer.organization_id AND s.subject_id = customer.id AND s.subject_type = 'customer' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = customer.organization_id AND s.subject_id = customer.id AND s.subject_type = 'customer' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = customer.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id = customer.id))) WHERE customer.id = NEW.subject_id; END",
    "CREATE TRIGGER sla_timer_plan_due_update AFTER UPDATE OF state, due_at, subject_id, subject_type ON sla_timer FOR EACH ROW BEGIN UPDATE lead SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = lead.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id IS NULL AND t.lead_id = lead.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = lead.organization_id AND s.subject_id = lead.id AND s.subject_type = 'lead' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = lead.organization_id AND s.subject_id = lead.id AND s.subject_type = 'lead' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = lead.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id IS NULL AND t.lead_id = lead.id))) WHERE lead.id = OLD.subject_id; UPDATE opportunity SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = opportunity.organization_id AND t.status = 'open' AND t.opportunity_id = opportunity.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = opportunity.organization_id AND s.subject_id = opportunity.id AND s.subject_type = 'opportunity' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = opportunity.organization_id AND s.subject_id = opportunity.id AND s.subject_type = 'opportunity' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = opportunity.organization_id AND t.status = 'open' AND t.opportunity_id = opportunity.id))) WHERE opportunity.id = OLD.subject_id; UPDATE customer SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = customer.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id = customer.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = customer.organization_id AND s.subject_id = customer.id AND s.subject_type = 'customer' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = customer.organization_id AND s.subject_id = customer.id AND s.subject_type = 'customer' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = customer.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id = customer.id))) WHERE customer.id = OLD.subject_id; UPDATE lead SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = lead.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id IS NULL AND t.lead_id = lead.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = lead.organization_id AND s.subject_id = lead.id AND s.subject_type = 'lead' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = lead.organization_id AND s.subject_id = lead.id AND s.subject_type = 'lead' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = lead.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id IS NULL AND t.lead_id = lead.id))) WHERE lead.id = NEW.subject_id; UPDATE opportunity SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = opportunity.organization_id AND t.status = 'open' AND t.opportunity_id = opportunity.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = opportunity.organization_id AND s.subject_id = opportunity.id AND s.subject_type = 'opportunity' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = opportunity.organization_id AND s.subject_id = opportunity.id AND s.subject_type = 'opportunity' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = opportunity.organization_id AND t.status = 'open' AND t.opportunity_id = opportunity.id))) WHERE opportunity.id = NEW.subject_id; UPDATE customer SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = customer.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id = customer.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = customer.organization_id AND s.subject_id = customer.id AND s.subject_type = 'customer' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = customer.organization_id AND s.subject_id = customer.id AND s.subject_type = 'customer' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = customer.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id = customer.id))) WHERE customer.id = NEW.subject_id; END",
    "CREATE TRIGGER sla_timer_plan_due_delete AFTER DELETE ON sla_timer FOR EACH ROW BEGIN UPDATE lead SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = lead.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id IS NULL AND t.lead_id = lead.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = lead.organization_id AND s.subject_id = lead.id AND s.subject_type = 'lead' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = lead.organization_id AND s.subject_id = lead.id AND s.subject_type = 'lead' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = lead.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id IS NULL AND t.lead_id = lead.id))) WHERE lead.id = OLD.subject_id; UPDATE opportunity SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = opportunity.organization_id AND t.status = 'open' AND t.opportunity_id = opportunity.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = opportunity.organization_id AND s.subject_id = opportunity.id AND s.subject_type = 'opportunity' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = opportunity.organization_id AND s.subject_id = opportunity.id AND s.subject_type = 'opportunity' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = opportunity.organization_id AND t.status = 'open' AND t.opportunity_id = opportunity.id))) WHERE opportunity.id = OLD.subject_id; UPDATE customer SET plan_due_at = min(coalesce((SELECT min(t.due_at) FROM task t WHERE t.organization_id = customer.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id = customer.id), (SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = customer.organization_id AND s.subject_id = customer.id AND s.subject_type = 'customer' AND s.state IN ('running', 'warned', 'breached', 'escalated'))), coalesce((SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = customer.organization_id AND s.subject_id = customer.id AND s.subject_type = 'customer' AND s.state IN ('running', 'warned', 'breached', 'escalated')), (SELECT min(t.due_at) FROM task t WHERE t.organization_id = customer.organization_id AND t.status = 'open' AND t.opportunity_id IS NULL AND t.customer_id = customer.id))) WHERE customer.id = OLD.subject_id; END",
]

_DROP_POSTGRESQL = [
    'DROP TRIGGER IF EXISTS sla_timer_plan_due ON sla_timer',
    'DROP TRIGGER IF EXISTS task_plan_due ON task',
    'DROP FUNCTION IF EXISTS crm_sla_timer_plan_due()',
    'DROP FUNCTION IF EXISTS crm_task_plan_due()',
    'DROP FUNCTION IF EXISTS crm_refresh_plan_due(text, uuid, uuid)',
]


def _backfill(kind: str) -> str:
    subject, attributed = _TASK_SUBJECT[kind]
    return (
        f'UPDATE {kind} SET plan_due_at = plan.due_at FROM ('
        f'SELECT subject_id, min(due_at) AS due_at FROM ('
        f"SELECT {subject} AS subject_id, t.due_at FROM task t WHERE t.status = 'open' AND {attributed} "
        f'UNION ALL SELECT s.subject_id, s.due_at FROM sla_timer s '
        f"WHERE s.subject_type = '{kind}' AND s.state IN {_LIVE_STATES}"
        f') due GROUP BY subject_id) plan WHERE {kind}.id = plan.subject_id'
    )


def _plan_indexes() -> list[tuple[str, str, list[str], dict]]:
    """(name, table, columns, options) of the plan indexes."""
    followed = {'postgresql_where': _FOLLOWED_CUSTOMER, 'sqlite_where': _FOLLOWED_CUSTOMER}
    indexes: list[tuple[str, str, list[str], dict]] = []
    for kind, (organization_included, owner_included) in _INDEXED.items():
        indexes.append((f'ix_{kind}_organization_id_plan_due_at_id', kind, ['organization_id', 'plan_due_at', 'id'],
                        {'postgresql_include': organization_included}))
        indexes.append((f'ix_{kind}_organization_id_owner_id_plan_due_at_id', kind,
                        ['organization_id', 'owner_id', 'plan_due_at', 'id'],
                        {'postgresql_include': owner_included}))
    indexes.append(('ix_customer_organization_id_plan_due_at_id', 'customer', ['organization_id', 'plan_due_at', 'id'],
                    {'postgresql_include': ['owner_id', 'merged_into_id', 'deleted_at'], **followed}))
    indexes.append(('ix_customer_organization_id_owner_id_plan_due_at_id', 'customer',
                    ['organization_id', 'owner_id', 'plan_due_at', 'id'],
                    {'postgresql_include': ['merged_into_id', 'deleted_at'], **followed}))
    return indexes


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == 'postgresql'
    for kind in ('lead', 'opportunity', 'customer'):
        with op.batch_alter_table(kind, schema=None) as batch_op:
            batch_op.add_column(sa.Column('plan_due_at', sa.DateTime(timezone=True), nullable=True))
    # The indexes first, built concurrently on PostgreSQL: built after the backfill, over the chains
    # of row versions its UPDATE leaves, PostgreSQL would not use them until every transaction
    # older than them (in any database of the server) had ended.
    if postgresql:
        with op.get_context().autocommit_block():
            for name, table, columns, options in _plan_indexes():
                op.create_index(name, table, columns, postgresql_concurrently=True, **options)
    else:
        for name, table, columns, options in _plan_indexes():
            op.create_index(name, table, columns, **options)
    # Triggers before the backfill, in one transaction: creating them locks task and sla_timer
    # against writes until the backfill commits, so no change falls between the two.
    for statement in _POSTGRESQL_DDL if postgresql else _SQLITE_DDL:
        op.execute(statement)
    for kind in ('lead', 'opportunity', 'customer'):
        op.execute(_backfill(kind))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for statement in _DROP_POSTGRESQL:
            op.execute(statement)
    else:
        for table in ('task', 'sla_timer'):
            for event in ('insert', 'update', 'delete'):
                op.execute(f'DROP TRIGGER IF EXISTS {table}_plan_due_{event}')
    for kind in ('customer', 'opportunity', 'lead'):
        op.drop_index(f'ix_{kind}_organization_id_owner_id_plan_due_at_id', table_name=kind)
        op.drop_index(f'ix_{kind}_organization_id_plan_due_at_id', table_name=kind)
        with op.batch_alter_table(kind, schema=None) as batch_op:
            batch_op.drop_column('plan_due_at')
