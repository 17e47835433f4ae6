"""Texts of in-app notifications per event topic and language; pure, so tests read them directly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "user.created": {
        "zh": ("欢迎加入 {organization_name}", "您的账号 {username} 已创建，角色：{role}。"),
        "en": ("Welcome to {organization_name}", "Your account {username} was created with the role {role}."),
    },
    "user.handed_over": {
        "zh": (
            "{from_name} 的客户已移交给您",
            "线索 {lead_count} 条、客户 {customer_count} 个、商机 {opportunity_count} 个、"
            "待办 {task_count} 项已移交给您。",
        ),
        "en": (
            "{from_name}'s accounts were handed to you",
            "{lead_count} leads, {customer_count} customers, {opportunity_count} opportunities and "
            "{task_count} tasks are now yours.",
        ),
    },
    "lead.assigned": {
        "zh": ("新线索：{lead_name}", "线索 {lead_name}（{company}）已分配给您。原因：{reason}"),
        "en": ("New lead: {lead_name}", "The lead {lead_name} ({company}) is yours. Why: {reason}"),
    },
    "lead.released": {
        "zh": ("线索已回收到公海：{lead_name}", "线索 {lead_name}（{company}）已回到公海。原因：{reason}"),
        "en": (
            "Lead back in the pool: {lead_name}",
            "The lead {lead_name} ({company}) went back to the pool. Why: {reason}",
        ),
    },
    "quote.price_spread": {
        "zh": (
            "报价价差预警：{customer_name}",
            "{rep_name} 给 {customer_name} 的报价与其他销售近期报价相差最多 {max_spread}"
            "（{alert_count} 个产品）。",
        ),
        "en": (
            "Price spread on a quote to {customer_name}",
            "{rep_name}'s quote to {customer_name} differs from other reps' recent quotes by up to "
            "{max_spread} ({alert_count} products).",
        ),
    },
    "sla.warned": {
        "zh": ("即将超时：{subject_name}", "{policy_name}将于 {due_at} 到期，请尽快跟进。"),
        "en": ("Due soon: {subject_name}", "{policy_name} is due at {due_at}; follow up now."),
    },
    "sla.breached": {
        "zh": ("已超时：{subject_name}", "{policy_name}已于 {due_at} 超时（负责人：{owner_name}）。"),
        "en": ("Overdue: {subject_name}", "{policy_name} was due at {due_at} (owner: {owner_name})."),
    },
    "sla.escalated": {
        "zh": (
            "超时升级（第 {level} 级）：{subject_name}",
            "{policy_name}自 {due_at} 起超时未处理（负责人：{owner_name}）。",
        ),
        "en": (
            "Escalated (level {level}): {subject_name}",
            "{policy_name} has been overdue since {due_at} (owner: {owner_name}).",
        ),
    },
    "team.member_added": {
        "zh": ("您已加入团队 {team_name}", "您已被加入团队 {team_name}。"),
        "en": ("You joined {team_name}", "You were added to the team {team_name}."),
    },
}


@dataclass(frozen=True)
class RenderedMessage:
    title: str
    body: str


def language_of(locale: str) -> str:
    return "zh" if locale.lower().startswith("zh") else "en"


def render_message(topic: str, payload: dict[str, Any], *, locale: str) -> RenderedMessage | None:
    """The message for an event, or None when the topic has no in-app text."""
    templates = _TEMPLATES.get(topic)
    if templates is None:
        return None
    title, body = templates[language_of(locale)]
    return RenderedMessage(title=title.format_map(payload), body=body.format_map(payload))


def backoff_seconds(attempt: int) -> int:
    """Delay before retry `attempt` (1-based): 30 s doubling, capped at one hour."""
    return int(min(30 * 2 ** (attempt - 1), 3600))
