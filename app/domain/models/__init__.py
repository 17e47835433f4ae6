"""Entities, one module per aggregate; importing this package registers them all."""

from app.domain.activities.attachments import AttachmentParent
from app.domain.activities.tasks import TaskStatus
from app.domain.assignment.assignment import AssignmentKind
from app.domain.imports.import_jobs import ImportKind, ImportStatus
from app.domain.models.activity import Activity
from app.domain.models.api_key import ApiKey
from app.domain.models.assignment import AssignmentRule, LeadAssignment
from app.domain.models.attachment import Attachment
from app.domain.models.audit_event import AuditEvent
from app.domain.models.business_calendar import BusinessCalendarRecord
from app.domain.models.campaign import Campaign, CampaignCost
from app.domain.models.change_log import ChangeLogEntry
from app.domain.models.customer import Contact, Customer, CustomerHealthSnapshot, CustomerMerge
from app.domain.models.delivery import Delivery
from app.domain.models.engagement_event import EngagementEvent
from app.domain.models.export_job import ExportJob
from app.domain.models.idempotency_record import IdempotencyRecord
from app.domain.models.import_job import ImportJob, ImportRowError
from app.domain.models.intake_form import IntakeForm
from app.domain.models.lead import Lead, LeadMerge
from app.domain.models.login_throttle import LoginThrottle
from app.domain.models.notification import Notification
from app.domain.models.notification_channel import NotificationChannel
from app.domain.models.opportunity import Opportunity, StageStay
from app.domain.models.organization import Organization
from app.domain.models.outbox_event import OutboxEvent
from app.domain.models.pipeline import Pipeline, PipelineStage
from app.domain.models.playbook import PlaybookEntry, PlaybookTerm, PlaybookUse
from app.domain.models.product import Product, Quote, QuoteLine
from app.domain.models.refresh_token import RefreshToken
from app.domain.models.sequence import SequenceCounter
from app.domain.models.sla import SlaEvent, SlaPolicy, SlaTimer, is_live
from app.domain.models.task import Task
from app.domain.models.team import Team, TeamMember
from app.domain.models.user import User
from app.domain.models.webhook import WebhookSubscription
from app.domain.models.wecom_app import WecomApp
from app.domain.models.win_model import WinModel
from app.domain.notifications.deliveries import DeliveryStatus
from app.domain.pipelines.opportunities import OpportunityStatus
from app.domain.platform.outbox import OutboxStatus

__all__ = [
    "Activity",
    "ApiKey",
    "AssignmentKind",
    "AssignmentRule",
    "Attachment",
    "AttachmentParent",
    "AuditEvent",
    "BusinessCalendarRecord",
    "Campaign",
    "CampaignCost",
    "ChangeLogEntry",
    "Contact",
    "Customer",
    "CustomerHealthSnapshot",
    "CustomerMerge",
    "Delivery",
    "DeliveryStatus",
    "EngagementEvent",
    "ExportJob",
    "IdempotencyRecord",
    "ImportJob",
    "ImportKind",
    "ImportRowError",
    "ImportStatus",
    "IntakeForm",
    "Lead",
    "LeadAssignment",
    "LeadMerge",
    "LoginThrottle",
    "Notification",
    "NotificationChannel",
    "Opportunity",
    "OpportunityStatus",
    "Organization",
    "OutboxEvent",
    "OutboxStatus",
    "Pipeline",
    "PipelineStage",
    "PlaybookEntry",
    "PlaybookTerm",
    "PlaybookUse",
    "Product",
    "Quote",
    "QuoteLine",
    "RefreshToken",
    "SequenceCounter",
    "SlaEvent",
    "SlaPolicy",
    "SlaTimer",
    "StageStay",
    "Task",
    "TaskStatus",
    "Team",
    "TeamMember",
    "User",
    "WebhookSubscription",
    "WecomApp",
    "WinModel",
    "is_live",
]
