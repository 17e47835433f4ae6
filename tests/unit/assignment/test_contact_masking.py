"""The pool's contact masking: what a masked phone, e-mail and WeChat id show, and for whom."""

from __future__ import annotations

import uuid

import pytest

from app.domain.assignment.contact_masking import (
    mask_email,
    mask_phone,
    mask_wechat,
    masked_contacts,
    masked_text,
    pool_masking,
)
from app.domain.identity.permissions import Permission, Role
from app.domain.identity.principal import Principal
from app.domain.leads.leads import LeadStatus

ORGANIZATION = uuid.uuid4()


@pytest.mark.parametrize(
    ("phone", "shown"),
    [
        ("13912342222", "139****2222"),
        ("+8613912342222", "+86139****2222"),
        ("+862162341234", "+8621****1234"),
        ("12345678", "****5678"),
        ("12345", "****45"),
        ("1", "****"),
    ],
)
def test_a_phone_hides_the_four_digits_before_its_last_four(phone: str, shown: str) -> None:
    assert mask_phone(phone) == shown


@pytest.mark.parametrize(
    ("email", "shown"),
    [
        ("chen@d.cn", "c***@d.cn"),
        ("c@d.cn", "c***@d.cn"),
        ("zhang.wei@shenhua.example", "z***@shenhua.example"),
        ("a@b@c.cn", "a***@c.cn"),
    ],
)
def test_an_email_shows_its_first_letter_and_its_domain(email: str, shown: str) -> None:
    assert mask_email(email) == shown


@pytest.mark.parametrize(
    ("wechat", "shown"), [("zhangwei_sh", "z***h"), ("wx1234", "w***4"), ("abc", "a***"), ("a", "a***")]
)
def test_a_wechat_id_shows_its_first_and_last_character(wechat: str, shown: str) -> None:
    assert mask_wechat(wechat) == shown


def test_missing_contacts_stay_missing() -> None:
    assert masked_contacts(None, "chen@d.cn", None) == {"phone": None, "email": "c***@d.cn", "wechat": None}


def _user(role: Role) -> Principal:
    return Principal.for_user(ORGANIZATION, uuid.uuid4(), role)


@pytest.mark.parametrize("role", [Role.rep, Role.supervisor, Role.marketing])
def test_sellers_and_marketing_see_pooled_leads_masked_while_the_setting_is_on(role: Role) -> None:
    viewer = _user(role)
    masking = pool_masking(viewer, mask_contacts=True)
    assert masking.hides(LeadStatus.pooled, None)
    assert masking.hides(LeadStatus.pooled, uuid.uuid4())
    # Claimed, assigned or closed: the lead is no longer the pool's.
    for status in set(LeadStatus) - {LeadStatus.pooled}:
        assert not masking.hides(status, None), status
    # Whoever entered the lead sees what they typed.
    assert not masking.hides(LeadStatus.pooled, viewer.user_id)
    assert not pool_masking(viewer, mask_contacts=False).hides(LeadStatus.pooled, None)


@pytest.mark.parametrize(
    "viewer",
    [
        _user(Role.admin),
        _user(Role.director),
        Principal.for_api_key(ORGANIZATION, uuid.uuid4(), frozenset({Permission.leads_read})),
    ],
)
def test_management_and_integrations_see_the_pool_in_full(viewer: Principal) -> None:
    assert not pool_masking(viewer, mask_contacts=True).hides(LeadStatus.pooled, None)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("回电 139 1234 2222", "回电 139****2222"),
        ("座机 021-6234-1234 转 8", "座机 021****1234 转 8"),
        ("手机+86 139-1234-2222", "手机+86139****2222"),
        ("mail Chen.D@dongfang.cn now", "mail C***@dongfang.cn now"),
        ("微信 Chen_DongFang 已加", "微信 c***g 已加"),
        # Dates, times, amounts and short numbers are not contacts.
        ("2026-12-09 10:30 报价 600000 元，订单 20261209", "2026-12-09 10:30 报价 600000 元，订单 20261209"),
    ],
)
def test_contacts_in_free_text_are_masked_and_the_rest_stays(text: str, shown: str) -> None:
    assert masked_text(text, "chen_dongfang") == shown
