"""`plan_due_at` on leads, opportunities and customers: the earliest due_at of the record's open tasks
and live SLA timers, kept by database triggers on `task` and `sla_timer`.

The status board orders and counts records by their plan (services/reports/status_board.py); kept on the
record, its page is an index walk and its counts index range counts, where recomputing it folded
every open task and timer of the organization for each request (seconds at a million leads).

Triggers rather than a call in each service: tasks and timers are written by a dozen paths (the
task and SLA services, the sweep, merges and their undo, imports, action packs, conversion, cascade
deletes), and a path that forgot the call would leave the board wrong without failing anything.
The trigger recomputes the plan of each record a changed row belongs to (before and after the
change) from the rows themselves, so the value never depends on the order of writes.

Concurrency (PostgreSQL, READ COMMITTED): the trigger first locks the record's row, then reads the
tasks and timers in a new statement, whose snapshot is taken after the lock is granted; a second
transaction changing the same record's tasks waits for the first to commit and then sees its rows.
SQLite serialises writers.

The same SQL is in migration 0047 (migrations keep their own copy of what they create).
"""

from __future__ import annotations

from sqlalchemy import DDL, MetaData, event

# A task belongs to the plan of its opportunity, else of its customer, else of its lead (as the
# board has always attributed it); a timer to its subject.
PLANNED_TABLES = ("lead", "opportunity", "customer")
_LIVE_STATES = "('running', 'warned', 'breached', 'escalated')"
_TASK_OWNER_CONDITION = {
    "opportunity": "t.opportunity_id = {subject}",
    "customer": "t.opportunity_id IS NULL AND t.customer_id = {subject}",
    "lead": "t.opportunity_id IS NULL AND t.customer_id IS NULL AND t.lead_id = {subject}",
}


def _earliest_task(kind: str, organization: str, subject: str) -> str:
    condition = _TASK_OWNER_CONDITION[kind].format(subject=subject)
    return (
        f"(SELECT min(t.due_at) FROM task t WHERE t.organization_id = {organization} "  # noqa: S608
        f"AND t.status = 'open' AND {condition})"
    )


def _earliest_timer(kind: str, organization: str, subject: str) -> str:
    return (
        f"(SELECT min(s.due_at) FROM sla_timer s WHERE s.organization_id = {organization} "  # noqa: S608
        f"AND s.subject_id = {subject} AND s.subject_type = '{kind}' AND s.state IN {_LIVE_STATES})"
    )


# --- PostgreSQL: one function recomputes a record's plan; row triggers call it for the old and new
# owner of the changed task or timer.


def _pg_refresh_branch(kind: str) -> str:
    task, timer = _earliest_task(kind, "org", "subject"), _earliest_timer(kind, "org", "subject")
    return (
        f"IF kind = '{kind}' THEN\n"  # noqa: S608
        f"    PERFORM 1 FROM {kind} WHERE id = subject FOR NO KEY UPDATE;\n"
        f"    due := LEAST({task}, {timer});\n"  # LEAST ignores NULLs
        f"    UPDATE {kind} SET plan_due_at = due WHERE id = subject AND plan_due_at IS DISTINCT FROM due;\n"
        "END IF;"
    )


_PG_REFRESH = f"""
CREATE OR REPLACE FUNCTION crm_refresh_plan_due(kind text, org uuid, subject uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    due timestamptz;
BEGIN
{chr(10).join(_pg_refresh_branch(kind) for kind in PLANNED_TABLES)}
END
$$
"""

_PG_TASK_TRIGGER_FUNCTION = """
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
"""

_PG_TIMER_TRIGGER_FUNCTION = f"""
CREATE OR REPLACE FUNCTION crm_sla_timer_plan_due() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_live boolean := TG_OP IN ('UPDATE', 'DELETE') AND OLD.state IN {_LIVE_STATES};
    new_live boolean := TG_OP IN ('INSERT', 'UPDATE') AND NEW.state IN {_LIVE_STATES};
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
"""

# The columns a plan reads: other updates (reminders, owners, the sweep's next_fire_at) leave it.
_PLAN_COLUMNS = {
    "task": " OF status, due_at, opportunity_id, customer_id, lead_id",
    "sla_timer": " OF state, due_at, subject_id, subject_type",
}

POSTGRESQL_DDL = [
    _PG_REFRESH,
    _PG_TASK_TRIGGER_FUNCTION,
    _PG_TIMER_TRIGGER_FUNCTION,
    f"CREATE TRIGGER task_plan_due AFTER INSERT OR DELETE OR UPDATE{_PLAN_COLUMNS['task']} ON task "
    "FOR EACH ROW EXECUTE FUNCTION crm_task_plan_due()",
    f"CREATE TRIGGER sla_timer_plan_due AFTER INSERT OR DELETE OR UPDATE{_PLAN_COLUMNS['sla_timer']} "
    "ON sla_timer FOR EACH ROW EXECUTE FUNCTION crm_sla_timer_plan_due()",
]


# --- SQLite: no functions; each trigger recomputes every record the old and new row may belong
# to (a no-op UPDATE for the others).


def _sqlite_refresh(kind: str, row: str, table: str) -> str:
    """Recomputes the plan of the `kind` record the trigger's OLD or NEW `row` of `table` may be on."""
    subject = f"{kind}.id"
    organization = f"{kind}.organization_id"
    task, timer = _earliest_task(kind, organization, subject), _earliest_timer(kind, organization, subject)
    # SQLite's two-argument min() is NULL when either is: min(coalesce(a, b), coalesce(b, a)).
    due = f"min(coalesce({task}, {timer}), coalesce({timer}, {task}))"
    reference = "subject_id" if table == "sla_timer" else f"{kind}_id"
    return f"UPDATE {kind} SET plan_due_at = {due} WHERE {kind}.id = {row}.{reference};"  # noqa: S608


def _sqlite_trigger(table: str, event_name: str) -> str:
    rows = {"INSERT": ["NEW"], "DELETE": ["OLD"], "UPDATE": ["OLD", "NEW"]}[event_name]
    body = " ".join(_sqlite_refresh(kind, row, table) for row in rows for kind in PLANNED_TABLES)
    columns = _PLAN_COLUMNS[table] if event_name == "UPDATE" else ""
    return (
        f"CREATE TRIGGER {table}_plan_due_{event_name.lower()} AFTER {event_name}{columns} ON {table} "
        f"FOR EACH ROW BEGIN {body} END"
    )


SQLITE_DDL = [
    _sqlite_trigger(table, op) for table in ("task", "sla_timer") for op in ("INSERT", "UPDATE", "DELETE")
]


def keep_plans_with(metadata: MetaData) -> None:
    """Creates the triggers with the schema (create_all), once every table they read exists."""
    for statement in POSTGRESQL_DDL:
        ddl = DDL(statement)  # type: ignore[no-untyped-call]
        event.listen(metadata, "after_create", ddl.execute_if(dialect="postgresql"))
    for statement in SQLITE_DDL:
        ddl = DDL(statement)  # type: ignore[no-untyped-call]
        event.listen(metadata, "after_create", ddl.execute_if(dialect="sqlite"))
