"""Texts of notifications per event topic, language and audience; pure, so tests read them directly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo

from app.domain.notifications.events import event_type


class Audience(StrEnum):
    person = "person"  # the in-app inbox and WeCom application messages: the text may say "you"
    group = "group"  # a WeCom or DingTalk group chat: everyone reads it, so it names people instead


# (title, body) per topic and language, for a person. Placeholders are payload keys of the event.
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
    "lead.created": {
        "zh": ("新线索：{lead_name}", "新线索 {lead_name}（{company}）已录入，来源：{source}。"),
        "en": ("New lead: {lead_name}", "A new lead {lead_name} ({company}) came in from {source}."),
    },
    "lead.converted": {
        "zh": ("线索已转化：{lead_name}", "线索 {lead_name} 已转化为客户 {customer_name}。"),
        "en": ("Lead converted: {lead_name}", "The lead {lead_name} became the customer {customer_name}."),
    },
    "customer.merged": {
        "zh": (
            "客户已合并：{duplicate_name}",
            "客户 {duplicate_code} {duplicate_name} 已合并到 {customer_code} {customer_name}，"
            "转移记录 {moved_count} 条。",
        ),
        "en": (
            "Customer merged: {duplicate_name}",
            "The customer {duplicate_code} {duplicate_name} was merged into {customer_code} "
            "{customer_name}; {moved_count} records moved.",
        ),
    },
    "customer.merge_undone": {
        "zh": (
            "客户合并已撤销：{duplicate_name}",
            "客户 {duplicate_code} {duplicate_name} 已从 {customer_code} {customer_name} 拆回，"
            "退回记录 {moved_count} 条。",
        ),
        "en": (
            "Customer merge undone: {duplicate_name}",
            "The customer {duplicate_code} {duplicate_name} was split from {customer_code} "
            "{customer_name} again; {moved_count} records moved back.",
        ),
    },
    "lead.merged": {
        "zh": (
            "线索已合并：{duplicate_name}",
            "线索 {duplicate_name} 已合并到 {lead_name}（{company}），转移记录 {moved_count} 条。",
        ),
        "en": (
            "Lead merged: {duplicate_name}",
            "The lead {duplicate_name} was merged into {lead_name} ({company}); {moved_count} records moved.",
        ),
    },
    "lead.merge_undone": {
        "zh": (
            "线索合并已撤销：{duplicate_name}",
            "线索 {duplicate_name} 已从 {lead_name}（{company}）拆回，退回记录 {moved_count} 条。",
        ),
        "en": (
            "Lead merge undone: {duplicate_name}",
            "The lead {duplicate_name} was split from {lead_name} ({company}) again; "
            "{moved_count} records moved back.",
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
    "customer.health_red": {
        "zh": (
            "客户健康度转红：{customer_name}",
            "客户 {customer_name}（{customer_code}）的健康度降至 {score} 分，进入红色区间，请尽快跟进。",
        ),
        "en": (
            "Customer health red: {customer_name}",
            "{customer_name} ({customer_code}) fell to a health score of {score}, in the red band; "
            "follow up soon.",
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
    "quote.approval_requested": {
        "zh": (
            "报价待审批：{customer_name}",
            "{rep_name} 给 {customer_name} 的报价最大折扣 {max_discount}，超出其权限，"
            "需{approver_role}或以上审批。",
        ),
        "en": (
            "Quote to approve: {customer_name}",
            "{rep_name}'s quote to {customer_name} gives up to {max_discount} off list, beyond their "
            "limit: a {approver_role} or above must approve it.",
        ),
    },
    "quote.approval_decided": {
        "zh": (
            "报价审批结果：{customer_name}",
            "{approver_name} 对给 {customer_name} 的报价：{decision}。理由：{reason}",
        ),
        "en": (
            "Quote {decision}: {customer_name}",
            "{approver_name} {decision} the prices of the quote to {customer_name}. Why: {reason}",
        ),
    },
    "playbook.approval_requested": {
        "zh": ("话术库待审批：{title}", "{author_name} 提交了话术库条目「{title}」，请审批。"),
        "en": ("Playbook entry to approve: {title}", '{author_name} sent "{title}" for approval.'),
    },
    "playbook.approval_decided": {
        "zh": ("话术库审批结果：{title}", "{approver_name} 对「{title}」：{decision}。理由：{reason}"),
        "en": ("Playbook entry {decision}: {title}", '{approver_name} {decision} "{title}". Why: {reason}'),
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
    "task.due": {
        "zh": ("待办到期：{title}", "待办「{title}」（{record_name}）于 {due_at} 到期，请及时完成。"),
        "en": (
            "Task due: {title}",
            "The task {title} ({record_name}) is due at {due_at}; please get it done.",
        ),
    },
    "task.overdue": {
        "zh": (
            "待办已逾期：{title}",
            "待办「{title}」（{record_name}）于 {due_at} 到期，仍未完成（负责人：{assignee_name}）。",
        ),
        "en": (
            "Task overdue: {title}",
            "The task {title} ({record_name}) was due at {due_at} and is still open "
            "(assignee: {assignee_name}).",
        ),
    },
    "team.member_added": {
        "zh": ("您已加入团队 {team_name}", "您已被加入团队 {team_name}。"),
        "en": ("You joined {team_name}", "You were added to the team {team_name}."),
    },
    "opportunity.created": {
        "zh": ("新商机：{opportunity_name}", "商机 {opportunity_name} 已创建，当前阶段：{stage}。"),
        "en": (
            "New opportunity: {opportunity_name}",
            "{opportunity_name} opened at the stage {stage}.",
        ),
    },
    "opportunity.stage_changed": {
        "zh": ("商机推进：{opportunity_name}", "商机 {opportunity_name} 已进入阶段：{stage}。"),
        "en": (
            "Opportunity moved: {opportunity_name}",
            "{opportunity_name} moved to the stage {stage}.",
        ),
    },
    "opportunity.won": {
        "zh": ("赢单：{opportunity_name}", "商机 {opportunity_name} 已赢单，金额：{amount}。"),
        "en": ("Won: {opportunity_name}", "The opportunity {opportunity_name} was won; amount: {amount}."),
    },
    "opportunity.lost": {
        "zh": ("输单：{opportunity_name}", "商机 {opportunity_name} 已输单（阶段：{stage}）。"),
        "en": ("Lost: {opportunity_name}", "The opportunity {opportunity_name} was lost ({stage})."),
    },
    "import.finished": {
        "zh": (
            "导入完成：{filename}",
            "文件 {filename} 导入结束（{status}）：新建 {created} 条，"
            "重复 {duplicates} 条，错误 {errors} 条。",
        ),
        "en": (
            "Import finished: {filename}",
            "{filename} finished ({status}): {created} created, {duplicates} duplicates, {errors} errors.",
        ),
    },
}

# Where the person's text says "you", a group chat reads who is meant instead.
_GROUP_TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "user.created": {
        "zh": ("新成员：{username}", "{username} 已加入 {organization_name}，角色：{role}。"),
        "en": ("New member: {username}", "{username} joined {organization_name} as {role}."),
    },
    "user.handed_over": {
        "zh": (
            "{from_name} 的客户已移交给 {to_name}",
            "线索 {lead_count} 条、客户 {customer_count} 个、商机 {opportunity_count} 个、"
            "待办 {task_count} 项已移交给 {to_name}。",
        ),
        "en": (
            "{from_name}'s accounts were handed to {to_name}",
            "{lead_count} leads, {customer_count} customers, {opportunity_count} opportunities and "
            "{task_count} tasks now belong to {to_name}.",
        ),
    },
    "lead.assigned": {
        "zh": (
            "线索已分配：{lead_name}",
            "线索 {lead_name}（{company}）已分配给 {owner_name}。原因：{reason}",
        ),
        "en": (
            "Lead assigned: {lead_name}",
            "The lead {lead_name} ({company}) went to {owner_name}. Why: {reason}",
        ),
    },
    "customer.health_red": {
        "zh": (
            "客户健康度转红：{customer_name}",
            "客户 {customer_name}（{customer_code}）的健康度降至 {score} 分，进入红色区间"
            "（负责人：{owner_name}）。",
        ),
        "en": (
            "Customer health red: {customer_name}",
            "{customer_name} ({customer_code}) fell to a health score of {score}, in the red band "
            "(owner: {owner_name}).",
        ),
    },
    "sla.warned": {
        "zh": ("即将超时：{subject_name}", "{policy_name}将于 {due_at} 到期（负责人：{owner_name}）。"),
        "en": ("Due soon: {subject_name}", "{policy_name} is due at {due_at} (owner: {owner_name})."),
    },
    "task.due": {
        "zh": (
            "待办到期：{title}",
            "待办「{title}」（{record_name}）于 {due_at} 到期（负责人：{assignee_name}）。",
        ),
        "en": (
            "Task due: {title}",
            "The task {title} ({record_name}) is due at {due_at} (assignee: {assignee_name}).",
        ),
    },
    "team.member_added": {
        "zh": ("团队 {team_name} 有新成员", "{member_names} 已加入团队 {team_name}。"),
        "en": ("New in {team_name}", "{member_names} joined the team {team_name}."),
    },
}

MESSAGE_TOPICS: frozenset[str] = frozenset(_TEMPLATES)
"""Event topics that carry a human message: what a WeCom or DingTalk channel may subscribe to."""

# Shown for a placeholder the event lacks (an event recorded before its payload gained the field):
# a gap in a message is better than a message that never goes out.
MISSING_FIELD = "—"


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return MISSING_FIELD


@dataclass(frozen=True)
class RenderedMessage:
    title: str
    body: str


def language_of(locale: str) -> str:
    return "zh" if locale.lower().startswith("zh") else "en"


def render_message(
    topic: str,
    payload: dict[str, Any],
    *,
    locale: str,
    timezone: str,
    audience: Audience = Audience.person,
) -> RenderedMessage | None:
    """The message for an event, or None when the topic has no text. Times read as the
    organization's clock shows them (`12月7日 09:30`), not as stored (UTC, ISO 8601)."""
    templates = (_GROUP_TEMPLATES.get(topic) if audience is Audience.group else None) or _TEMPLATES.get(topic)
    if templates is None:
        return None
    language = language_of(locale)
    title, body = templates[language]
    fields = _Fields(payload)
    for name in _time_fields(topic):
        if isinstance(payload.get(name), str):
            fields[name] = _local_time(payload[name], ZoneInfo(timezone), language)
    return RenderedMessage(title=title.format_map(fields), body=body.format_map(fields))


@cache
def _time_fields(topic: str) -> tuple[str, ...]:
    event = event_type(topic)
    if event is None:
        return ()
    return tuple(name for name, kind in get_type_hints(event).items() if kind is datetime)


def _local_time(text: str, zone: ZoneInfo, language: str) -> str:
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if instant.tzinfo is None:
        return text
    local = instant.astimezone(zone)
    if language == "zh":
        return f"{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local:%b} {local.day}, {local:%H:%M}"


def backoff_seconds(attempt: int) -> int:
    """Delay before retry `attempt` (1-based): 30 s doubling, capped at one hour."""
    return int(min(30 * 2 ** (attempt - 1), 3600))
