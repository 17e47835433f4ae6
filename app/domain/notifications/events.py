"""Every event the product announces, one frozen dataclass per topic.

An event is recorded in the outbox in the transaction that causes it (services/platform/outbox.py) and
delivered after commit: in-app notifications to `notify_user_ids`, WeCom and DingTalk messages,
and webhooks, whose body's `data` is the event's payload without `notify_user_ids`. The topics
registered here are the whole list: webhook and channel subscriptions accept only these (plus "*"),
notification texts exist only for these, and docs/webhooks.md lists them (a test checks each).
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar

_REGISTRY: dict[str, type[Event]] = {}


@dataclass(frozen=True, kw_only=True)
class Event:
    topic: ClassVar[str]
    notify_user_ids: tuple[uuid.UUID, ...] = ()
    """Who gets an in-app notification (and a WeCom application message) about it."""

    def __init_subclass__(cls, *, topic: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if topic is None:  # an abstract base that shares fields between topics
            return
        if topic in _REGISTRY:
            raise TypeError(f"two events claim the topic {topic}")
        cls.topic = topic
        _REGISTRY[topic] = cls

    def payload(self) -> dict[str, Any]:
        """The event as stored in the outbox: JSON values only."""
        return {field.name: _json(getattr(self, field.name)) for field in dataclasses.fields(self)}


def _json(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_json(item) for item in value]
    return value


def event_topics() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def event_type(topic: str) -> type[Event] | None:
    return _REGISTRY.get(topic)


def registered_events() -> tuple[type[Event], ...]:
    return tuple(_REGISTRY[topic] for topic in event_topics())


@dataclass(frozen=True, kw_only=True)
class UserCreated(Event, topic="user.created"):
    """An account was created."""

    user_id: uuid.UUID
    username: str
    role: str
    organization_name: str


@dataclass(frozen=True, kw_only=True)
class UserHandedOver(Event, topic="user.handed_over"):
    """A leaving rep's records moved to a colleague."""

    from_user_id: uuid.UUID
    to_user_id: uuid.UUID
    from_name: str
    to_name: str
    lead_count: int
    customer_count: int
    opportunity_count: int
    task_count: int


@dataclass(frozen=True, kw_only=True)
class TeamMemberAdded(Event, topic="team.member_added"):
    """People joined a team."""

    team_id: uuid.UUID
    team_name: str
    user_ids: tuple[uuid.UUID, ...]
    member_names: str


@dataclass(frozen=True, kw_only=True)
class LeadCreated(Event, topic="lead.created"):
    """A lead was recorded by a form, the API or by hand. Imported leads announce nothing; the
    import.finished event sums them up."""

    lead_id: uuid.UUID
    lead_name: str
    company: str
    source: str
    owner_id: uuid.UUID | None


@dataclass(frozen=True, kw_only=True)
class LeadAssigned(Event, topic="lead.assigned"):
    """A lead got an owner: by a rule, a pool claim, by hand or in a handover."""

    lead_id: uuid.UUID
    lead_name: str
    company: str
    owner_id: uuid.UUID
    owner_name: str  # named in group chats, which cannot say "you"
    previous_owner_id: uuid.UUID | None
    kind: str
    rule_id: uuid.UUID | None
    strategy: str | None
    reason: str


@dataclass(frozen=True, kw_only=True)
class LeadReleased(Event, topic="lead.released"):
    """A lead went back to the pool or lost its owner."""

    lead_id: uuid.UUID
    lead_name: str
    company: str
    previous_owner_id: uuid.UUID
    kind: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class LeadConverted(Event, topic="lead.converted"):
    """A lead became a customer."""

    lead_id: uuid.UUID
    lead_name: str
    customer_id: uuid.UUID
    customer_name: str


@dataclass(frozen=True, kw_only=True)
class _LeadRecordEvent(Event):
    """A lead's deletion, restoration or erasure: ids only, never the personal data."""

    lead_id: uuid.UUID
    actor_id: uuid.UUID | None


@dataclass(frozen=True, kw_only=True)
class LeadDeleted(_LeadRecordEvent, topic="lead.deleted"):
    """A lead was deleted (soft: it can be restored)."""


@dataclass(frozen=True, kw_only=True)
class LeadRestored(_LeadRecordEvent, topic="lead.restored"):
    """A deleted lead was restored."""


@dataclass(frozen=True, kw_only=True)
class LeadErased(_LeadRecordEvent, topic="lead.erased"):
    """A lead's personal data was erased on request; its sales facts stay."""


@dataclass(frozen=True, kw_only=True)
class _CustomerRecordEvent(Event):
    customer_id: uuid.UUID
    customer_code: str
    actor_id: uuid.UUID | None


@dataclass(frozen=True, kw_only=True)
class CustomerDeleted(_CustomerRecordEvent, topic="customer.deleted"):
    """A customer was deleted (soft: it can be restored)."""


@dataclass(frozen=True, kw_only=True)
class CustomerRestored(_CustomerRecordEvent, topic="customer.restored"):
    """A deleted customer was restored."""


@dataclass(frozen=True, kw_only=True)
class _ContactRecordEvent(Event):
    contact_id: uuid.UUID
    customer_id: uuid.UUID
    actor_id: uuid.UUID | None


@dataclass(frozen=True, kw_only=True)
class ContactDeleted(_ContactRecordEvent, topic="contact.deleted"):
    """A contact was deleted (soft: it can be restored)."""


@dataclass(frozen=True, kw_only=True)
class ContactRestored(_ContactRecordEvent, topic="contact.restored"):
    """A deleted contact was restored."""


@dataclass(frozen=True, kw_only=True)
class ContactErased(_ContactRecordEvent, topic="contact.erased"):
    """A contact's personal data was erased on request."""


@dataclass(frozen=True, kw_only=True)
class _ActivityRecordEvent(Event):
    activity_id: uuid.UUID
    actor_id: uuid.UUID | None


@dataclass(frozen=True, kw_only=True)
class ActivityDeleted(_ActivityRecordEvent, topic="activity.deleted"):
    """An activity was deleted (soft: it can be restored)."""


@dataclass(frozen=True, kw_only=True)
class ActivityRestored(_ActivityRecordEvent, topic="activity.restored"):
    """A deleted activity was restored."""


@dataclass(frozen=True, kw_only=True)
class _CustomerMergeEvent(Event):
    """What a merge and its undo both say: the survivor, the duplicate and how many records moved."""

    merge_id: uuid.UUID
    customer_id: uuid.UUID
    customer_code: str
    customer_name: str
    duplicate_id: uuid.UUID
    duplicate_code: str
    duplicate_name: str
    moved_count: int


@dataclass(frozen=True, kw_only=True)
class CustomerMerged(_CustomerMergeEvent, topic="customer.merged"):
    """A duplicate customer was merged into a survivor: its records moved, its id and code became
    aliases of the survivor."""


@dataclass(frozen=True, kw_only=True)
class CustomerMergeUndone(_CustomerMergeEvent, topic="customer.merge_undone"):
    """A merge was undone: the records it moved went back, the duplicate is a customer again."""


@dataclass(frozen=True, kw_only=True)
class _LeadMergeEvent(Event):
    """What a lead merge and its undo both say: the survivor, the duplicate and how many records
    moved."""

    merge_id: uuid.UUID
    lead_id: uuid.UUID
    lead_name: str
    company: str
    duplicate_id: uuid.UUID
    duplicate_name: str
    moved_count: int


@dataclass(frozen=True, kw_only=True)
class LeadMerged(_LeadMergeEvent, topic="lead.merged"):
    """A duplicate lead was merged into a survivor: its records moved, its id became an alias of
    the survivor."""


@dataclass(frozen=True, kw_only=True)
class LeadMergeUndone(_LeadMergeEvent, topic="lead.merge_undone"):
    """A lead merge was undone: the records it moved went back, the duplicate is a lead again."""


@dataclass(frozen=True, kw_only=True)
class OpportunityCreated(Event, topic="opportunity.created"):
    """A deal was opened."""

    opportunity_id: uuid.UUID
    opportunity_name: str
    stage: str
    owner_id: uuid.UUID | None


@dataclass(frozen=True, kw_only=True)
class OpportunityStageChanged(Event, topic="opportunity.stage_changed"):
    """A deal moved stage (`abnormal`: it skipped a stage or went back)."""

    opportunity_id: uuid.UUID
    opportunity_name: str
    from_stage_id: uuid.UUID
    to_stage_id: uuid.UUID
    stage: str
    move: str
    abnormal: bool


@dataclass(frozen=True, kw_only=True)
class _OpportunityClosed(OpportunityStageChanged):
    """Announced besides the stage change that closes the deal, with what an ERP books it by."""

    amount: Decimal | None
    currency: str
    customer_id: uuid.UUID
    customer_name: str
    owner_id: uuid.UUID | None
    owner_name: str
    closed_at: datetime

    @classmethod
    def of(cls, change: OpportunityStageChanged, **closing: Any) -> _OpportunityClosed:
        shared = {field.name: getattr(change, field.name) for field in dataclasses.fields(change)}
        return cls(**shared, **closing)


@dataclass(frozen=True, kw_only=True)
class OpportunityWon(_OpportunityClosed, topic="opportunity.won"):
    """A deal reached a won stage (announced besides opportunity.stage_changed)."""


@dataclass(frozen=True, kw_only=True)
class OpportunityLost(_OpportunityClosed, topic="opportunity.lost"):
    """A deal reached a lost stage (announced besides opportunity.stage_changed)."""


@dataclass(frozen=True, kw_only=True)
class CustomerHealthRed(Event, topic="customer.health_red"):
    """A customer's health fell into the red band; told again only after it recovered to yellow
    or green and fell again."""

    customer_id: uuid.UUID
    customer_name: str
    customer_code: str
    owner_id: uuid.UUID | None
    owner_name: str
    score: int


@dataclass(frozen=True, kw_only=True)
class QuotePriceSpread(Event, topic="quote.price_spread"):
    """A quote's prices differ from peers' beyond the organization's limit."""

    quote_id: uuid.UUID
    opportunity_id: uuid.UUID
    customer_id: uuid.UUID
    alerts: list[dict[str, Any]]
    customer_name: str
    rep_name: str
    max_spread: str  # a percentage, as the message shows it
    alert_count: int


@dataclass(frozen=True, kw_only=True)
class QuoteApprovalRequested(Event, topic="quote.approval_requested"):
    """A quote's prices are beyond its author's discount limit or a floor price: it waits for an
    approver of `approver_role` or above."""

    quote_id: uuid.UUID
    opportunity_id: uuid.UUID
    customer_id: uuid.UUID
    customer_name: str
    rep_name: str
    max_discount: str  # a percentage, as the message shows it
    below_floor: bool
    approver_role: str
    total: Decimal
    currency: str


@dataclass(frozen=True, kw_only=True)
class QuoteApprovalDecided(Event, topic="quote.approval_decided"):
    """An approver approved a quote's prices (it may be sent) or rejected them (they must change)."""

    quote_id: uuid.UUID
    opportunity_id: uuid.UUID
    customer_id: uuid.UUID
    customer_name: str
    decision: str
    reason: str
    approver_name: str


@dataclass(frozen=True, kw_only=True)
class PlaybookApprovalRequested(Event, topic="playbook.approval_requested"):
    """A playbook entry (an objection answer a rep proposed, a case, a script) waits for a
    supervisor's approval before reps see it."""

    entry_id: uuid.UUID
    kind: str
    title: str
    author_name: str
    activity_id: uuid.UUID | None


@dataclass(frozen=True, kw_only=True)
class PlaybookApprovalDecided(Event, topic="playbook.approval_decided"):
    """An approver approved a playbook entry (reps now find it) or rejected it."""

    entry_id: uuid.UUID
    kind: str
    title: str
    decision: str
    reason: str
    approver_name: str


@dataclass(frozen=True, kw_only=True)
class _SlaTransition(Event):
    """Written by the SLA sweep in one INSERT ... SELECT (services/sla/sla_sweep.py builds the same
    keys in SQL; a test holds the two together)."""

    timer_id: uuid.UUID
    policy_name: str
    kind: str
    subject_type: str
    subject_id: uuid.UUID
    level: int
    due_at: datetime
    subject_name: str
    owner_name: str


@dataclass(frozen=True, kw_only=True)
class SlaWarned(_SlaTransition, topic="sla.warned"):
    """An SLA timer nears its deadline."""


@dataclass(frozen=True, kw_only=True)
class SlaBreached(_SlaTransition, topic="sla.breached"):
    """An SLA timer passed its deadline."""


@dataclass(frozen=True, kw_only=True)
class SlaEscalated(_SlaTransition, topic="sla.escalated"):
    """A breach was escalated one level up."""


SLA_TRANSITION_FIELDS: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(_SlaTransition))


@dataclass(frozen=True, kw_only=True)
class _TaskReminder(Event):
    """Sent by the task reminder sweep (services/activities/task_reminders.py), once per task and kind."""

    task_id: uuid.UUID
    title: str
    due_at: datetime
    assignee_id: uuid.UUID | None
    assignee_name: str
    lead_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    opportunity_id: uuid.UUID | None
    record_name: str  # the opportunity's, else the customer's, else the lead's name


@dataclass(frozen=True, kw_only=True)
class TaskDue(_TaskReminder, topic="task.due"):
    """An open task reached its due time (told to its assignee)."""


@dataclass(frozen=True, kw_only=True)
class TaskOverdue(_TaskReminder, topic="task.overdue"):
    """An open task is still open tasks.overdue_after_minutes after its due time (told to its
    assignee, who asked for it and the assignee's supervisors)."""


@dataclass(frozen=True, kw_only=True)
class ImportFinished(Event, topic="import.finished"):
    """An import job ended."""

    import_job_id: uuid.UUID
    filename: str
    status: str
    created: int
    duplicates: int
    errors: int
