"""Every topic a channel may subscribe to has a Chinese and an English message, for a person and for a
group chat, and every placeholder is a field its event carries."""

from __future__ import annotations

import re

import pytest

from app.domain.notifications.channels import (
    ChannelKind,
    audience_of,
    check_channel_event_types,
    public_config,
    secret_hints,
)
from app.domain.notifications.notifications import MESSAGE_TOPICS, MISSING_FIELD, Audience, render_message
from app.domain.platform.errors import InvalidInput

# Sample values of the payload fields of each event (app/domain/notifications/events.py).
PAYLOADS: dict[str, dict[str, object]] = {
    "user.created": {"username": "wang.fang", "role": "rep", "organization_name": "Acme"},
    "user.handed_over": {
        "from_name": "Li Lei",
        "to_name": "Wang Fang",
        "lead_count": 3,
        "customer_count": 2,
        "opportunity_count": 1,
        "task_count": 4,
    },
    "team.member_added": {"team_name": "East", "member_names": "Wang Fang, Li Lei"},
    "lead.created": {"lead_name": "Zhao Min", "company": "Huadong", "source": "web_form"},
    "lead.converted": {"lead_name": "Zhao Min", "customer_name": "Huadong Ltd"},
    "customer.merged": {
        "customer_code": "C000001",
        "customer_name": "Huadong Ltd",
        "duplicate_code": "C000007",
        "duplicate_name": "Huadong",
        "moved_count": 12,
    },
    "customer.merge_undone": {
        "customer_code": "C000001",
        "customer_name": "Huadong Ltd",
        "duplicate_code": "C000007",
        "duplicate_name": "Huadong",
        "moved_count": 12,
    },
    "lead.merged": {
        "lead_name": "Zhao Min",
        "company": "Huadong",
        "duplicate_name": "Zhao M.",
        "moved_count": 5,
    },
    "lead.merge_undone": {
        "lead_name": "Zhao Min",
        "company": "Huadong",
        "duplicate_name": "Zhao M.",
        "moved_count": 5,
    },
    "lead.assigned": {
        "lead_name": "Zhao Min",
        "company": "Huadong",
        "owner_name": "Wang Fang",
        "reason": "rule",
    },
    "lead.released": {"lead_name": "Zhao Min", "company": "Huadong", "reason": "idle 3 days"},
    "customer.health_red": {
        "customer_name": "Huadong",
        "customer_code": "C000123",
        "score": 42,
        "owner_name": "Li Lei",
    },
    "quote.price_spread": {
        "customer_name": "Huadong",
        "rep_name": "Li Lei",
        "max_spread": "12%",
        "alert_count": 2,
    },
    "quote.approval_requested": {
        "customer_name": "Huadong",
        "rep_name": "Li Lei",
        "max_discount": "25%",
        "approver_role": "director",
    },
    "quote.approval_decided": {
        "customer_name": "Huadong",
        "approver_name": "Wang Fang",
        "decision": "rejected",
        "reason": "below cost",
    },
    "playbook.approval_requested": {"title": "Tight budget", "author_name": "Li Lei"},
    "playbook.approval_decided": {
        "title": "Tight budget",
        "approver_name": "Wang Fang",
        "decision": "approved",
        "reason": "good",
    },
    "sla.warned": {
        "subject_name": "Zhao Min",
        "policy_name": "First response",
        "due_at": "10:30",
        "owner_name": "Li",
    },
    "sla.breached": {
        "subject_name": "Zhao Min",
        "policy_name": "First response",
        "due_at": "10:30",
        "owner_name": "Li",
    },
    "sla.escalated": {
        "subject_name": "Zhao Min",
        "policy_name": "First response",
        "due_at": "10:30",
        "owner_name": "Li",
        "level": 1,
    },
    "task.due": {
        "title": "Site survey",
        "record_name": "Huadong",
        "due_at": "2026-12-07T02:00:00+00:00",
        "assignee_name": "Zhang",
    },
    "task.overdue": {
        "title": "Site survey",
        "record_name": "Huadong",
        "due_at": "2026-12-07T02:00:00+00:00",
        "assignee_name": "Zhang",
    },
    "opportunity.created": {"opportunity_name": "Tower B", "stage": "Qualify"},
    "opportunity.stage_changed": {"opportunity_name": "Tower B", "stage": "Proposal"},
    "opportunity.won": {"opportunity_name": "Tower B", "stage": "Won", "amount": "120000.00"},
    "opportunity.lost": {"opportunity_name": "Tower B", "stage": "Lost", "amount": None},
    "import.finished": {
        "filename": "leads.xlsx",
        "status": "finished",
        "created": 10,
        "duplicates": 1,
        "errors": 0,
    },
}
_CJK = re.compile(r"[\u4e00-\u9fff]")
SHANGHAI = "Asia/Shanghai"


def test_the_sample_payloads_cover_exactly_the_subscribable_topics():
    assert set(PAYLOADS) == MESSAGE_TOPICS


@pytest.mark.parametrize("topic", sorted(MESSAGE_TOPICS))
@pytest.mark.parametrize("audience", list(Audience))
def test_every_subscribable_topic_renders_in_chinese_and_english(topic, audience):
    chinese = render_message(topic, PAYLOADS[topic], locale="zh-CN", timezone=SHANGHAI, audience=audience)
    english = render_message(topic, PAYLOADS[topic], locale="en", timezone=SHANGHAI, audience=audience)

    assert chinese is not None
    assert english is not None
    for message in (chinese, english):
        assert message.title
        assert message.body
        assert MISSING_FIELD not in message.title + message.body, (topic, message)
    assert _CJK.search(chinese.title + chinese.body)
    assert not _CJK.search(english.title + english.body), english  # the sample values are ASCII


def test_a_group_chat_is_never_told_you():
    for topic in sorted(MESSAGE_TOPICS):
        message = render_message(
            topic, PAYLOADS[topic], locale="zh-CN", timezone=SHANGHAI, audience=Audience.group
        )
        assert message is not None
        assert "您" not in message.title + message.body, topic
        english = render_message(
            topic, PAYLOADS[topic], locale="en", timezone=SHANGHAI, audience=Audience.group
        )
        assert english is not None
        assert not re.search(r"\b(you|your)\b", english.title + english.body, re.IGNORECASE), topic


def test_a_field_an_older_event_lacks_leaves_a_gap_rather_than_failing():
    message = render_message(
        "lead.assigned", {"lead_name": "Zhao Min"}, locale="en", timezone=SHANGHAI, audience=Audience.group
    )
    assert message is not None
    assert f"went to {MISSING_FIELD}" in message.body


def test_an_event_without_a_message_renders_nothing():
    assert render_message("import.started", {}, locale="zh-CN", timezone=SHANGHAI) is None


def test_robots_post_to_groups_and_the_wecom_app_to_people():
    assert audience_of(ChannelKind.wecom_robot) is Audience.group
    assert audience_of(ChannelKind.dingtalk_robot) is Audience.group
    assert audience_of(ChannelKind.wecom_app) is Audience.person


def test_secrets_are_left_out_of_the_config_and_hinted_by_their_last_characters():
    config = {"corp_id": "ww-corp", "secret": "app-secret-0123456789", "agent_id": 7}
    assert public_config(ChannelKind.wecom_app, config) == {"corp_id": "ww-corp", "agent_id": 7}
    assert secret_hints(ChannelKind.wecom_app, config) == {"secret": "…6789"}
    # Four characters of a short secret would give too much of it away.
    assert secret_hints(ChannelKind.wecom_robot, {"key": "short-key"}) == {"key": "…"}
    assert secret_hints(ChannelKind.dingtalk_robot, {"access_token": "t" * 20}) == {"access_token": "…tttt"}


def test_a_channel_subscribes_only_to_topics_with_a_message():
    check_channel_event_types(["*", "lead.assigned", "sla.breached"])
    with pytest.raises(InvalidInput) as refused:
        check_channel_event_types(["lead.assigned", "lead.creatd", "webhook.ping"])
    assert refused.value.code == "notification_channel.unknown_event_type"
    assert [e.message for e in refused.value.errors] == [
        "lead.creatd has no message",
        "webhook.ping has no message",
    ]


@pytest.mark.parametrize(("locale", "shown"), [("zh-CN", "12月7日 09:30"), ("en", "Dec 7, 09:30")])
def test_a_time_reads_as_the_organizations_clock_shows_it(locale, shown):
    payload = {**PAYLOADS["sla.breached"], "due_at": "2026-12-07T01:30:00+00:00"}

    message = render_message("sla.breached", payload, locale=locale, timezone=SHANGHAI)

    assert message is not None
    assert shown in message.body
    assert "2026-12-07T01:30" not in message.body
