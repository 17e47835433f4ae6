"""Web-to-lead intake: which lead fields a web form may fill, and how a submission's fields become a
lead's values through the form's mapping (issue 21, point 1). Pure rules, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from app.domain.leads.lead_fields import LEAD_FIELDS
from app.domain.platform.custom_fields import FieldDefinition, from_cells
from app.domain.platform.errors import FieldError, InvalidInput

CUSTOM_PREFIX = "custom_fields."
# The lead fields a form may fill, with the longest text each takes (as POST /leads bounds them).
LEAD_TARGETS = LEAD_FIELDS.web_form_targets
# The field of a submission that carries the captcha provider's token (never mapped to the lead).
CAPTCHA_TOKEN_FIELD = "captcha_token"
MAX_SUBMITTED_FIELDS = 100
MAX_SUBMITTED_VALUE = 5000


def check_mapping(
    mapping: Mapping[str, str], custom_fields: Sequence[FieldDefinition], *, honeypot_field: str | None
) -> None:
    """Every target names a lead field or a defined custom field, each at most once; a lead needs a
    name and a way to reach the person, so the mapping must fill `name` and a contact field. The
    honeypot and the captcha token are no lead's data."""
    custom_keys = {definition.key for definition in custom_fields}
    errors = [
        FieldError(f"field_mapping.{source}", "intake.reserved_field", "the honeypot or captcha field")
        for source in mapping
        if source in (honeypot_field, CAPTCHA_TOKEN_FIELD)
    ]
    errors += [
        FieldError(f"field_mapping.{source}", "intake.unknown_lead_field", f"no lead field {target!r}")
        for source, target in mapping.items()
        if target not in LEAD_TARGETS
        and not (target.startswith(CUSTOM_PREFIX) and target[len(CUSTOM_PREFIX) :] in custom_keys)
    ]
    targets = list(mapping.values())
    errors += [
        FieldError("field_mapping", "intake.target_repeated", f"{target!r} is filled by more than one field")
        for target in sorted({t for t in targets if targets.count(t) > 1})
    ]
    if "name" not in targets:
        errors.append(FieldError("field_mapping", "intake.name_unmapped", "no form field fills 'name'"))
    if not {"phone", "email", "wechat"} & set(targets):
        errors.append(
            FieldError(
                "field_mapping", "intake.contact_unmapped", "no form field fills phone, email or wechat"
            )
        )
    if errors:
        raise InvalidInput(
            "The field mapping does not fit the lead's fields.", code="intake.mapping_invalid", errors=errors
        )


@dataclass(frozen=True)
class MappedLead:
    """A submission's values by lead field, ready for the lead-creation input."""

    values: dict[str, Any] = field(default_factory=dict)
    custom_fields: dict[str, Any] = field(default_factory=dict)


def map_submission(
    fields: Mapping[str, str], mapping: Mapping[str, str], custom_fields: Sequence[FieldDefinition]
) -> MappedLead:
    """The mapped fields' values (empty ones left out); InvalidInput names the form field at fault.
    Fields the mapping does not name are ignored: a form may carry more than the CRM keeps."""
    values: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    errors: list[FieldError] = []
    for source, target in mapping.items():
        raw = fields.get(source, "").strip()
        if not raw:
            continue
        if target.startswith(CUSTOM_PREFIX):
            key = target[len(CUSTOM_PREFIX) :]
            custom[key] = raw
        elif len(raw) > LEAD_TARGETS[target]:
            errors.append(FieldError(source, "too_long", f"at most {LEAD_TARGETS[target]} characters"))
        elif target == "budget":
            budget = _budget(raw)
            if budget is None:
                errors.append(FieldError(source, "invalid", "a non-negative amount, e.g. 250000.00"))
            values[target] = budget
        else:
            values[target] = raw
    if "name" not in values:
        errors.append(FieldError(_source_of("name", mapping), "missing", "required"))
    if errors:
        raise InvalidInput("Some form fields are not valid.", code="intake.fields_invalid", errors=errors)
    return MappedLead(values=values, custom_fields=from_cells(custom, list(custom_fields)))


def _source_of(target: str, mapping: Mapping[str, str]) -> str:
    return next((source for source, t in mapping.items() if t == target), target)


def _budget(raw: str) -> Decimal | None:
    try:
        amount = Decimal(raw.replace(",", ""))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount >= Decimal(10) ** 12:
        return None
    return amount.quantize(Decimal("0.01"))


def is_honeypot_filled(fields: Mapping[str, str], honeypot_field: str | None) -> bool:
    """A field people never see (hidden by the page's CSS): only a bot fills it."""
    return bool(honeypot_field) and bool(fields.get(honeypot_field or "", "").strip())


def in_form_terms(refusal: InvalidInput, mapping: Mapping[str, str]) -> InvalidInput:
    """A refusal of the lead (a phone that is no phone, no way to reach the person) naming the form's
    fields, which are what the page's author knows."""
    source_of = {target: source for source, target in mapping.items()}
    renamed = InvalidInput(
        refusal.detail,
        code=refusal.code,
        errors=[FieldError(source_of.get(e.field, e.field), e.code, e.message) for e in refusal.errors],
    )
    renamed.extensions = refusal.extensions
    return renamed
