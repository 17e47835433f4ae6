"""One customer's records: the rule activities and tasks share (app/domain/activities/links.py)."""

from __future__ import annotations

import uuid

import pytest

from app.domain.activities.links import LeadLink, OpportunityLink, check_links, link_errors
from app.domain.platform.errors import InvalidInput

A, B = uuid.uuid4(), uuid.uuid4()
LEAD_ID = uuid.uuid4()


@pytest.mark.parametrize(
    ("customer_id", "lead", "opportunity", "fields"),
    [
        (A, LeadLink(LEAD_ID, A), OpportunityLink(A, None), []),
        (B, LeadLink(LEAD_ID, A), None, ["lead_id"]),
        (B, None, OpportunityLink(A, None), ["opportunity_id"]),
        (B, LeadLink(LEAD_ID, A), OpportunityLink(A, None), ["lead_id", "opportunity_id"]),
        (None, LeadLink(LEAD_ID, None), OpportunityLink(A, LEAD_ID), []),  # the deal came from the lead
        (None, LeadLink(LEAD_ID, A), OpportunityLink(A, None), []),  # the lead's customer's deal
        (None, LeadLink(LEAD_ID, None), OpportunityLink(A, None), ["opportunity_id"]),
        (A, None, None, []),
        (None, LeadLink(LEAD_ID, None), None, []),
    ],
)
def test_links_name_one_customers_records(customer_id, lead, opportunity, fields):
    errors = link_errors(customer_id=customer_id, lead=lead, opportunity=opportunity)
    assert [e.field for e in errors] == fields


def test_the_refusal_names_the_record_kind_in_its_code():
    with pytest.raises(InvalidInput) as refused:
        check_links(customer_id=B, lead=LeadLink(LEAD_ID, A), opportunity=None, record="task")
    assert refused.value.code == "task.inconsistent_links"
    assert [e.field for e in refused.value.errors] == ["lead_id"]
