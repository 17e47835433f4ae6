"""Opportunity import: a mapping file says how another system's export becomes our opportunities.

The mapping is data, not code: which column holds which field, how the source's deal stages map
onto a pipeline's stages, the date format, spelling fixes for product names, and what to do with a
row that names no customer. docs/imports.md documents the format; docs/mappings/ holds examples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.domain.imports.import_mapping import custom_field_cells, is_mapping_target
from app.domain.platform.custom_fields import FIELD_PATH_PREFIX
from app.domain.platform.errors import FieldError, InvalidInput
from app.domain.platform.formulas import check_text, saved_result

OPPORTUNITY_FIELDS = (
    "external_id",
    "name",
    "owner",
    "customer",
    "product",
    "stage",
    "engaged_on",
    "closed_on",
    "amount",
    "expected_close_date",
)
REQUIRED_COLUMNS = ("owner", "stage")
_MAPPING_KEYS = frozenset(
    {
        "columns",
        "pipeline",
        "stages",
        "date_format",
        "products",
        "missing_customer",
        "currency",
        "name_template",
        "timezone",
        "amount_known_before_close",
    }
)
DEFAULT_NAME_TEMPLATE = "{customer} {product}"


@dataclass(frozen=True)
class OpportunityMapping:
    columns: dict[str, str]  # source header -> field
    pipeline: str | None  # a pipeline's name; None: the organization's default
    stages: dict[str, str]  # source stage -> our stage name
    date_format: str
    products: dict[str, str] = field(default_factory=dict)  # source spelling -> product name
    # None: a row without a customer is reported; else the name of the customer such rows go to.
    missing_customer: str | None = None
    currency: str = "CNY"
    name_template: str = DEFAULT_NAME_TEMPLATE
    # The zone the source's dates are days in; None: the organization's.
    timezone: str | None = None
    # False (the default): a closed deal's amount is its close value, unknown before the close (as
    # Maven's close_value, 0 on every lost deal), so win-probability training never reads it.
    amount_known_before_close: bool = False


def _string_map(raw: Any, where: str, errors: list[FieldError]) -> dict[str, str]:
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        errors.append(FieldError(where, "type", "an object of strings"))
        return {}
    return {k.strip(): v.strip() for k, v in raw.items()}


@dataclass(frozen=True)
class _Option:
    """A single-valued mapping key: its default, and what a usable value is."""

    default: Any
    is_usable: Callable[[Any], bool]
    code: str
    expected: str


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


_OPTIONS = {
    "date_format": _Option(
        "%Y-%m-%d",
        lambda value: isinstance(value, str) and "%" in value,
        "invalid",
        "a strptime format such as %m/%d/%Y",
    ),
    "missing_customer": _Option("error", _is_text, "invalid", '"error" or a customer name'),
    "currency": _Option(
        "CNY",
        lambda value: isinstance(value, str) and len(value) == 3 and value.isalpha() and value.isupper(),
        "invalid",
        "a three-letter code such as CNY",
    ),
    "name_template": _Option(DEFAULT_NAME_TEMPLATE, _is_text, "invalid", "text with {field} placeholders"),
    "amount_known_before_close": _Option(
        False, lambda value: isinstance(value, bool), "invalid", "true or false"
    ),
    "pipeline": _Option(None, lambda value: value is None or _is_text(value), "invalid", "a pipeline's name"),
    "timezone": _Option(
        None,
        lambda value: value is None or _is_zone(value),
        "timezone.unknown",
        "an IANA name such as America/New_York",
    ),
}


def _option(raw: dict[str, Any], key: str, errors: list[FieldError]) -> Any:
    option = _OPTIONS[key]
    value = raw.get(key, option.default)
    if not option.is_usable(value):
        errors.append(FieldError(f"mapping.{key}", option.code, option.expected))
    return value


def _columns(raw: Any, errors: list[FieldError]) -> dict[str, str]:
    """Source header -> field: known fields only, and the required ones all mapped."""
    columns = _string_map(raw, "mapping.columns", errors)
    for header, target in columns.items():
        # `custom_fields.<key>` fills that custom field (settings.custom_fields.opportunity).
        if not is_mapping_target(target, OPPORTUNITY_FIELDS):
            errors.append(
                FieldError(
                    f"mapping.columns.{header}",
                    "field.unknown",
                    f"one of {', '.join(OPPORTUNITY_FIELDS)}, or {FIELD_PATH_PREFIX}<key>",
                )
            )
    for needed in REQUIRED_COLUMNS:
        if needed not in columns.values():
            errors.append(FieldError("mapping.columns", "missing", f"map a column to {needed}"))
    return columns


def parse_mapping(raw: Any) -> OpportunityMapping:
    """Validates a mapping file; every problem is reported at once (422 naming `mapping.<key>`)."""
    if not isinstance(raw, dict):
        raise InvalidInput(
            "The mapping must be a JSON object.",
            code="import.mapping_invalid",
            errors=[FieldError("mapping", "type", "an object")],
        )
    errors = [
        FieldError(f"mapping.{key}", "unknown", "not a mapping key")
        for key in sorted(set(raw) - _MAPPING_KEYS)
    ]
    columns = _columns(raw.get("columns", {}), errors)
    stages = _string_map(raw.get("stages", {}), "mapping.stages", errors)
    if not stages:
        errors.append(FieldError("mapping.stages", "missing", "map each source stage to a stage name"))
    date_format = _option(raw, "date_format", errors)
    missing_customer = _option(raw, "missing_customer", errors)
    currency = _option(raw, "currency", errors)
    template = _option(raw, "name_template", errors)
    pipeline = _option(raw, "pipeline", errors)
    products = _string_map(raw.get("products", {}), "mapping.products", errors)
    timezone = _option(raw, "timezone", errors)
    amount_known = _option(raw, "amount_known_before_close", errors)
    if errors:
        raise InvalidInput("The import mapping cannot be used.", code="import.mapping_invalid", errors=errors)
    return OpportunityMapping(
        columns=columns,
        pipeline=pipeline.strip() if pipeline else None,
        stages=stages,
        date_format=date_format,
        products=products,
        missing_customer=None if missing_customer.strip() == "error" else missing_customer.strip(),
        currency=currency,
        name_template=template,
        timezone=timezone,
        amount_known_before_close=amount_known,
    )


def _is_zone(name: Any) -> bool:
    if not isinstance(name, str) or not name.strip():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class OpportunityRow:
    external_id: str | None
    name: str
    owner: str
    customer: str
    product: str | None
    source_stage: str
    stage: str
    engaged_on: date | None
    closed_on: date | None
    amount: Decimal | None
    expected_close_date: date | None
    # The custom field columns' cells by key, empty ones left out; checked against the
    # organization's definitions when the rows are written.
    custom_fields: dict[str, Any] = field(default_factory=dict)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _date(value: Any, name: str, date_format: str, errors: list[FieldError]) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    if text is None:
        return None
    try:
        return datetime.strptime(text, date_format).date()
    except ValueError:
        errors.append(FieldError(name, "date.invalid", f"{text!r} does not match {date_format}"))
        return None


def _amount(value: Any, errors: list[FieldError]) -> Decimal | None:
    text = _text(value)
    if text is None:
        return None
    try:
        amount = Decimal(text.replace(",", ""))
    except InvalidOperation:
        errors.append(FieldError("amount", "number.invalid", f"{text!r} is not a number"))
        return None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e16"):
        errors.append(FieldError("amount", "value.out_of_range", "0 or more, below 10^16"))
        return None
    return amount.quantize(Decimal("0.01"))


def parse_row(
    cells: dict[str, Any], mapping: OpportunityMapping
) -> tuple[OpportunityRow | None, list[FieldError], list[FieldError]]:
    """One source row, by field name, as an opportunity to create, or the reasons it cannot be; and
    the warnings about what it imports as it is (formulas)."""
    errors: list[FieldError] = []
    warnings: list[FieldError] = []
    values = {name: saved_result(name, cell, warnings) for name, cell in cells.items()}
    owner = _text(values.get("owner"))
    if owner is None:
        errors.append(FieldError("owner", "missing", "the owner's name is empty"))
    source_stage = _text(values.get("stage"))
    stage = mapping.stages.get(source_stage) if source_stage else None
    if source_stage is None:
        errors.append(FieldError("stage", "missing", "the stage is empty"))
    elif stage is None:
        errors.append(
            FieldError("stage", "stage.unmapped", f"{source_stage!r} is not in the mapping's stages")
        )
    customer = _text(values.get("customer")) or mapping.missing_customer
    if customer is None:
        errors.append(FieldError("customer", "missing", "the row names no customer"))
    product = _text(values.get("product"))
    if product is not None:
        product = mapping.products.get(product, product)
    engaged_on = _date(values.get("engaged_on"), "engaged_on", mapping.date_format, errors)
    closed_on = _date(values.get("closed_on"), "closed_on", mapping.date_format, errors)
    expected = _date(values.get("expected_close_date"), "expected_close_date", mapping.date_format, errors)
    if engaged_on and closed_on and closed_on < engaged_on:
        errors.append(FieldError("closed_on", "date.order", "closes before it was engaged"))
    amount = _amount(values.get("amount"), errors)
    if errors or owner is None or stage is None or source_stage is None or customer is None:
        return None, errors, warnings
    external_id = _text(values.get("external_id"))
    placeholders = {
        "customer": customer,
        "product": product or "",
        "external_id": external_id or "",
        "owner": owner,
    }
    name = _text(values.get("name")) or mapping.name_template.format_map(_Blank(placeholders)).strip()
    row = OpportunityRow(
        external_id=external_id[:64] if external_id else None,
        name=(name or external_id or customer)[:200],
        owner=owner,
        customer=customer,
        product=product,
        source_stage=source_stage,
        stage=stage,
        engaged_on=engaged_on,
        closed_on=closed_on,
        amount=amount,
        expected_close_date=expected or closed_on,
        custom_fields=custom_field_cells(values, warnings),
    )
    # The owner, customer, product and stage are names looked up, not stored; these two are kept.
    check_text("external_id", [row.external_id] if row.external_id else [], warnings)
    check_text("name", [row.name], warnings)
    return row, [], warnings


class _Blank(dict[str, str]):
    """A template placeholder the row does not have renders empty instead of failing."""

    def __missing__(self, key: str) -> str:
        return ""
