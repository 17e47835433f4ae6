"""Consistent links: a record that names several others (an activity, a task) names one customer's.

Issue 20 point 4: an activity stored against customer B and an opportunity of customer A counted on
one account and showed on another. The rule, for activities and tasks alike: the customer, a lead
converted into it, its opportunity; without a customer, an opportunity from the lead or of the
lead's customer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.domain.platform.errors import FieldError, InvalidInput


@dataclass(frozen=True)
class LeadLink:
    id: uuid.UUID
    customer_id: uuid.UUID | None  # the customer it was converted into


@dataclass(frozen=True)
class OpportunityLink:
    customer_id: uuid.UUID
    source_lead_id: uuid.UUID | None


def link_errors(
    *, customer_id: uuid.UUID | None, lead: LeadLink | None, opportunity: OpportunityLink | None
) -> list[FieldError]:
    """The fields that name another customer's record than the rest; empty when consistent."""
    errors = []
    if lead is not None and customer_id is not None and lead.customer_id != customer_id:
        errors.append(
            FieldError("lead_id", "other_customer", "the lead was not converted into this customer")
        )
    if opportunity is not None and customer_id is not None and opportunity.customer_id != customer_id:
        errors.append(FieldError("opportunity_id", "other_customer", "the opportunity is another customer's"))
    if (
        lead is not None
        and opportunity is not None
        and customer_id is None
        and opportunity.customer_id != lead.customer_id
        and opportunity.source_lead_id != lead.id
    ):
        errors.append(
            FieldError(
                "opportunity_id", "other_lead", "the opportunity is neither from this lead nor its customer's"
            )
        )
    return errors


def check_links(
    *,
    customer_id: uuid.UUID | None,
    lead: LeadLink | None,
    opportunity: OpportunityLink | None,
    record: str,
) -> None:
    """422 `<record>.inconsistent_links` naming the fields, when the links are not one customer's."""
    errors = link_errors(customer_id=customer_id, lead=lead, opportunity=opportunity)
    if errors:
        raise InvalidInput(
            f"The {record} links records of different customers.",
            code=f"{record}.inconsistent_links",
            errors=errors,
        )
