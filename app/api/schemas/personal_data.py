"""A person's data (PIPL): erasure requests and the export of everything stored about one person."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.api.schemas.activities import ActivityOut
from app.api.schemas.common import name_of
from app.api.schemas.customers import ContactOut
from app.api.schemas.leads import LeadOut
from app.domain.scores.engagement import EngagementType


class ErasureIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "PIPL erasure request 2026-117"}]}
    )

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] = Field(
        description="Why (e.g. the request's reference); kept in the audit trail, so no personal data."
    )


class EngagementRecordOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    event_id: str
    type: EngagementType
    occurred_at: datetime
    lead_id: uuid.UUID | None
    lead_name: str | None = name_of("lead")
    contact_id: uuid.UUID | None
    contact_name: str | None = name_of("contact")
    customer_id: uuid.UUID | None
    customer_name: str | None = name_of("customer")


class PersonExportOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "phone": "+8613900000001",
                    "email": None,
                    "generated_at": "2026-12-07T02:00:00Z",
                    "leads": [],
                    "contacts": [],
                    "activities": [],
                    "engagement_events": [],
                    "deleted_ids": [],
                }
            ]
        }
    )

    phone: str | None = Field(description="The phone number searched, normalised (E.164).")
    email: str | None = Field(description="The e-mail address searched, normalised.")
    generated_at: datetime
    leads: list[LeadOut] = Field(description="Leads with this phone or e-mail, deleted ones included.")
    contacts: list[ContactOut] = Field(description="Customers' contacts with this phone or e-mail.")
    activities: list[ActivityOut] = Field(
        description="Activities on those leads, and any whose notes mention the phone or e-mail."
    )
    engagement_events: list[EngagementRecordOut] = Field(
        description="What the person did (e-mail opens, trial logins) as integrations reported it."
    )
    deleted_ids: list[uuid.UUID] = Field(
        description="Which of the leads, contacts and activities above are deleted (still stored)."
    )
