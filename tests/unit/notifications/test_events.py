"""The event registry is the one list of topics: every message text, the webhook documentation and
the SLA sweep's SQL-built payload agree with it."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from app.domain.models import User
from app.domain.notifications.events import (
    SLA_TRANSITION_FIELDS,
    LeadAssigned,
    OpportunityStageChanged,
    OpportunityWon,
    SlaBreached,
    event_topics,
    event_type,
)
from app.domain.notifications.notifications import MESSAGE_TOPICS, MISSING_FIELD, Audience, render_message
from app.services.sla.sla_sweep import transition_payload

DOCS = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"


def test_every_message_text_belongs_to_a_registered_event():
    assert MESSAGE_TOPICS.issubset(event_topics())


@pytest.mark.parametrize("topic", sorted(MESSAGE_TOPICS))
def test_every_placeholder_of_a_message_is_a_field_of_its_event(topic):
    fields = {field.name: "x" for field in dataclasses.fields(event_type(topic))}  # type: ignore[arg-type]
    for locale in ("zh-CN", "en"):
        for audience in Audience:
            message = render_message(topic, fields, locale=locale, timezone="UTC", audience=audience)
            assert message is not None
            assert MISSING_FIELD not in message.title + message.body, (topic, locale, audience)


def test_the_webhook_documentation_lists_exactly_the_registered_topics():
    listed = DOCS.read_text(encoding="utf-8").split("## Event types", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", listed, re.MULTILINE)) == set(event_topics())


def test_the_sla_sweeps_sql_payload_has_the_fields_of_the_sla_events():
    assert set(transition_payload(User)) == set(SLA_TRANSITION_FIELDS)


def test_a_payload_is_json_with_ids_as_strings():
    lead_id, owner_id = uuid.uuid4(), uuid.uuid4()
    event = LeadAssigned(
        lead_id=lead_id,
        lead_name="赵敏",
        company="",
        owner_id=owner_id,
        owner_name="王芳",
        previous_owner_id=None,
        kind="rule",
        rule_id=None,
        strategy="round_robin",
        reason="east",
        notify_user_ids=(owner_id,),
    )

    payload = event.payload()

    assert json.loads(json.dumps(payload)) == payload
    assert payload["lead_id"] == str(lead_id)
    assert payload["previous_owner_id"] is None
    assert payload["notify_user_ids"] == [str(owner_id)]


def test_a_won_deal_carries_its_stage_change_and_what_an_erp_books_it_by():
    change = OpportunityStageChanged(
        opportunity_id=uuid.uuid4(),
        opportunity_name="Tower B",
        from_stage_id=uuid.uuid4(),
        to_stage_id=uuid.uuid4(),
        stage="Won",
        move="forward",
        abnormal=False,
    )
    customer_id = uuid.uuid4()

    won = OpportunityWon.of(
        change,
        amount=Decimal("120000.00"),
        currency="CNY",
        customer_id=customer_id,
        customer_name="华东建材",
        owner_id=None,
        owner_name="",
        closed_at=datetime(2026, 12, 7, 1, 0, tzinfo=UTC),
    )

    assert won.topic == "opportunity.won"
    assert won.payload() == {
        **change.payload(),
        "amount": "120000.00",
        "currency": "CNY",
        "customer_id": str(customer_id),
        "customer_name": "华东建材",
        "owner_id": None,
        "owner_name": "",
        "closed_at": "2026-12-07T01:00:00+00:00",
    }


def test_a_topic_cannot_be_claimed_twice():
    with pytest.raises(TypeError, match=r"lead\.created"):

        @dataclasses.dataclass(frozen=True, kw_only=True)
        class Again(LeadAssigned, topic="lead.created"):
            pass


def test_a_datetime_field_is_written_as_iso_8601():
    breached = SlaBreached(
        timer_id=uuid.uuid4(),
        policy_name="First response",
        kind="first_response",
        subject_type="lead",
        subject_id=uuid.uuid4(),
        level=0,
        due_at=datetime(2026, 12, 7, 2, 30, tzinfo=UTC),
        subject_name="赵敏",
        owner_name="王芳",
    )
    assert breached.payload()["due_at"] == "2026-12-07T02:30:00+00:00"
