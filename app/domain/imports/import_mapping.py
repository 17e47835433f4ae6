"""Import columns: which header means which field (Chinese or English), and parsing one row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from app.domain.customers.customer_fields import CUSTOMER_FIELDS
from app.domain.customers.customer_tier import Tier
from app.domain.leads.lead_fields import LEAD_FIELDS
from app.domain.leads.leads import LeadSource
from app.domain.platform.custom_fields import custom_field_key
from app.domain.platform.errors import FieldError
from app.domain.platform.formulas import check_text, saved_result
from app.domain.platform.input_fields import InputFields

# The columns an import may fill, as the records' field declarations allow.
LEAD_COLUMNS = LEAD_FIELDS.import_columns
CUSTOMER_COLUMNS = CUSTOMER_FIELDS.import_columns
# A column whose field declares no length (a campaign's name or id) is read this far.
UNDECLARED_TEXT_LENGTH = 200

_HEADER_ALIASES = {
    "name": ("name", "contact", "contact name", "姓名", "联系人", "客户姓名"),
    "company": ("company", "company name", "account", "公司", "公司名称", "单位", "企业名称"),
    "phone": ("phone", "mobile", "tel", "telephone", "手机", "手机号", "电话", "联系电话", "手机号码"),
    "email": ("email", "e-mail", "mail", "邮箱", "电子邮箱", "邮件"),
    "wechat": ("wechat", "weixin", "微信", "微信号"),
    "source": ("source", "lead source", "来源", "线索来源", "渠道"),
    "region": ("region", "area", "province", "区域", "地区", "省份"),
    "product_line": ("product line", "product", "产品线", "意向产品", "产品"),
    "industry": ("industry", "sector", "行业", "所属行业"),
    "budget": ("budget", "预算", "预算金额"),
    "notes": ("notes", "note", "remark", "remarks", "备注", "说明"),
    "tags": ("tags", "标签"),
    "address": ("address", "地址", "详细地址"),
    "latitude": ("latitude", "lat", "纬度"),
    "longitude": ("longitude", "lng", "lon", "经度"),
    "annual_purchase": ("annual purchase", "annual revenue", "年采购额", "年采购金额"),
    "tier": ("tier", "level", "客户等级", "等级"),
    "campaign": ("campaign", "campaign name", "campaign id", "活动", "市场活动", "营销活动", "推广活动"),
    "utm_source": ("utm source",),
    "utm_medium": ("utm medium",),
    "utm_campaign": ("utm campaign",),
    "utm_term": ("utm term",),
    "utm_content": ("utm content",),
}
_ALIAS_TO_FIELD = {alias: field for field, aliases in _HEADER_ALIASES.items() for alias in aliases}
# Text fields whose text is not what is stored: the dedup rules normalise contact details, and the
# source becomes one of the choices, the campaign a campaign's id; a formula there is refused as invalid.
_NORMALISED_FIELDS = frozenset({"phone", "email", "source", "campaign"})

_SOURCES = {source.value: source for source in LeadSource}
_SOURCE_ALIASES = {
    "展会": LeadSource.exhibition,
    "网站": LeadSource.web_form,
    "官网": LeadSource.web_form,
    "表单": LeadSource.web_form,
    "400": LeadSource.phone_400,
    "400电话": LeadSource.phone_400,
    "电话": LeadSource.phone_400,
    "广告": LeadSource.ad,
    "推荐": LeadSource.referral,
    "转介绍": LeadSource.referral,
    "企业微信": LeadSource.wecom,
    "导入": LeadSource.import_,
}


def _clean_header(header: Any) -> str:
    return " ".join(str(header or "").replace("_", " ").split()).strip().lower()


def is_mapping_target(field: str, allowed: tuple[str, ...]) -> bool:
    """A field a column may fill: one of the record's, or a custom field `custom_fields.<key>`
    (which ones the organization defines is checked on each row, against its settings)."""
    return field in allowed or custom_field_key(field) is not None


def resolve_columns(headers: list[Any], mapping: dict[str, str], allowed: tuple[str, ...]) -> dict[int, str]:
    """Column index -> field. An explicit mapping (header -> field) wins over the built-in aliases;
    headers that match nothing are ignored."""
    explicit = {_clean_header(header): field for header, field in mapping.items()}
    columns: dict[int, str] = {}
    for index, header in enumerate(headers):
        cleaned = _clean_header(header)
        field = explicit.get(cleaned) or _ALIAS_TO_FIELD.get(cleaned)
        if field is not None and is_mapping_target(field, allowed) and field not in columns.values():
            columns[index] = field
    return columns


def unknown_mapping_targets(mapping: dict[str, str], allowed: tuple[str, ...]) -> list[str]:
    return sorted({field for field in mapping.values() if not is_mapping_target(field, allowed)})


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # spreadsheets hand phone numbers over as floats
    text = str(value).strip()
    return text or None


def _custom_cell(value: Any) -> Any:
    """A custom field's cell as the API would receive it: a day as YYYY-MM-DD, a whole number
    without ".0", text trimmed; None when empty. Its type is read and checked on writing, against
    the organization's definitions (custom_fields.from_cells and validate_custom_fields)."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool | int):
        return value
    return _text(value)


def custom_field_cells(values: dict[str, Any], warnings: list[FieldError]) -> dict[str, Any]:
    """The row's custom field cells by key, the empty ones left out (values by field name, formula
    cells already replaced by their saved result); text that would run as a formula is reported."""
    cells = {}
    for name, value in values.items():
        key = custom_field_key(name)
        if key is None or (cell := _custom_cell(value)) is None:
            continue
        if isinstance(cell, str):
            check_text(name, [cell], warnings)
        cells[key] = cell
    return cells


@dataclass(frozen=True)
class ParsedRow:
    # The record's fields by name, and under `custom_fields` the custom field cells by key (their
    # types are read and checked against the organization's definitions when the rows are written).
    values: dict[str, Any]
    errors: list[FieldError]
    # What the row imports as it is but should be told about: formulas (app/domain/platform/formulas.py).
    warnings: list[FieldError]


def _decimal(field: str, raw: str, errors: list[FieldError]) -> Decimal | None:
    try:
        amount = Decimal(raw.replace(",", "").replace("¥", "").replace("￥", ""))
    except InvalidOperation:
        errors.append(FieldError(field, "number.invalid", f"{raw!r} is not a number"))
        return None
    if amount < 0 or not amount.is_finite():
        errors.append(FieldError(field, "number.invalid", "must be zero or more"))
        return None
    return amount.quantize(Decimal("0.01"))


def parse_source(raw: str | None, default: LeadSource) -> LeadSource | None:
    if raw is None:
        return default
    source = _SOURCES.get(raw.lower())
    return source if source is not None else _SOURCE_ALIASES.get(raw)


def parse_row(raw: dict[str, Any], fields: InputFields, *, default_source: LeadSource | None) -> ParsedRow:
    """Text, numbers and enums of one row of the record `fields` declares, each text cut to its
    field's length; contact details are normalised later by the dedup rules."""
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    warnings: list[FieldError] = []
    cells = {field: saved_result(field, cell, warnings) for field, cell in raw.items()}
    custom_fields = custom_field_cells(cells, warnings)
    for field, cell in cells.items():
        text = _text(cell)
        if text is None or custom_field_key(field) is not None:
            continue
        if field in ("budget", "annual_purchase"):
            values[field] = _decimal(field, text, errors)
        elif field in ("latitude", "longitude"):
            try:
                values[field] = float(text)
            except ValueError:
                errors.append(FieldError(field, "number.invalid", f"{text!r} is not a number"))
        elif field == "tier":
            try:
                values[field] = Tier(text.upper())
            except ValueError:
                errors.append(FieldError(field, "tier.invalid", "must be A, B or C"))
        elif field == "tags":
            values[field] = sorted({t.strip()[:32] for t in text.replace("，", ",").split(",") if t.strip()})[
                :20
            ]
            check_text(field, values[field], warnings)
        else:
            values[field] = text[: fields.longest_text(field) or UNDECLARED_TEXT_LENGTH]
            if field not in _NORMALISED_FIELDS:
                check_text(field, [values[field]], warnings)
    if default_source is not None:  # leads have a source; customers do not
        source = parse_source(values.get("source"), default_source)
        if source is None:
            errors.append(FieldError("source", "source.invalid", f"unknown source {values.get('source')!r}"))
        else:
            values["source"] = source
    if not values.get("name"):
        errors.append(FieldError("name", "missing", "a name is required"))
    values["custom_fields"] = custom_fields
    return ParsedRow(
        values={k: v for k, v in values.items() if v is not None}, errors=errors, warnings=warnings
    )
