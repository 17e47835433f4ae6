"""Shapes shared by every resource: problems, pages and record metadata."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from app.domain.platform.periods import DayOrInstant

if TYPE_CHECKING:
    from app.services.platform.pagination import Page


def _iso_8601_only(value: Any) -> Any:
    # Pydantic reads "0.5" or 1700000000 as Unix time; the contract promises ISO 8601 text.
    if isinstance(value, str) and not (len(value) >= 10 and value[4] == "-" and value[7] == "-"):
        raise ValueError("use ISO 8601 with an offset, e.g. 2026-11-23T10:00:00+08:00")
    if isinstance(value, int | float):
        raise ValueError("use ISO 8601 with an offset, e.g. 2026-11-23T10:00:00+08:00")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_8601_only)]
"""An instant in ISO 8601 with its offset; naive or numeric times are refused."""


def _iso_day_only(value: Any) -> Any:
    # Pydantic reads 0 or "0" as 1970-01-01; the contract's `date` format is YYYY-MM-DD text.
    if isinstance(value, date):  # a stored day, read back for an answer
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("use an ISO 8601 date, YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_iso_day_only)]
"""A calendar day as YYYY-MM-DD text; numbers and other spellings are refused."""


_DAY_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")
# Instants read as every other instant of the contract reads them.
_INSTANT: TypeAdapter[datetime] = TypeAdapter(Timestamp)


def _day_or_instant(value: Any) -> DayOrInstant:
    if isinstance(value, str) and _DAY_TEXT.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError("not a calendar day") from None
    try:
        instant = _INSTANT.validate_python(value)
    except ValidationError:
        raise ValueError("use a day, YYYY-MM-DD, or an instant in ISO 8601 with an offset") from None
    try:
        return instant.astimezone(UTC)  # as stored; 0001-01-01T00:00+08:00 has no UTC instant
    except OverflowError:
        raise ValueError("out of range") from None


DayOrTimestamp = Annotated[
    DayOrInstant,
    PlainValidator(_day_or_instant),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
            "examples": ["2026-11-23", "2026-11-23T10:00:00+08:00"],
        }
    ),
]
"""A period bound: a day (YYYY-MM-DD, that whole day in the organization's time zone) or an instant."""


def _json_integer(value: Any) -> Any:
    # JSON Schema's integer is a number without a fraction, 551.0 included; true and "551" are not
    # numbers at all, though the lenient int would read them.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("a whole number")
        return int(value)
    return value


JsonInteger = BeforeValidator(_json_integer)
"""`Annotated[int, Field(ge=0), JsonInteger]`: an integer in a JSON body, read as JSON Schema
reads one. It comes after the bounds, which then stay in the contract."""


@dataclass(frozen=True)
class DecimalText:
    """`Annotated[Decimal, DecimalText(...)]`: a decimal sent as text, e.g. "1250.50", with at most
    `digits` before the point and `places` after, never negative (never zero if `positive`). A JSON
    number is refused: a binary float carries neither 0.57 exactly nor a count of decimal places,
    so the contract could not state its bounds."""

    digits: int
    places: int
    example: str
    positive: bool = False

    @property
    def pattern(self) -> str:
        nonzero_whole = f"[1-9][0-9]{{0,{self.digits - 1}}}"
        fraction = f"(?:\\.[0-9]{{1,{self.places}}})?"
        if not self.positive:
            return f"^(?:0|{nonzero_whole}){fraction}$"
        # Not zero: a whole part above zero, or a fraction whose first non-zero digit is at place k.
        tails = [
            "0" * k + "[1-9]" + (f"[0-9]{{0,{self.places - k - 1}}}" if k < self.places - 1 else "")
            for k in range(self.places)
        ]
        return f"^(?:{nonzero_whole}{fraction}|0\\.(?:{'|'.join(tails)}))$"

    def _parse(self, value: Any) -> Any:
        if not isinstance(value, str) or re.fullmatch(self.pattern, value) is None:
            raise ValueError(
                f"send a decimal string such as {self.example!r}: at most {self.digits} digits before "
                f"the point and {self.places} after" + (", above zero" if self.positive else "")
            )
        return Decimal(value)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_before_validator_function(self._parse, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "pattern": self.pattern, "examples": [self.example]}


def stored_decimal(places: int) -> PlainSerializer:
    """`Annotated[Decimal, stored_decimal(places)]` in an answer: the decimal with the `places` its
    column stores, so the answer to a write (which holds what the client sent, "700000") reads like
    every later read ("700000.00"), on SQLite and PostgreSQL alike."""
    exponent = Decimal(1).scaleb(-places)
    return PlainSerializer(lambda value: f"{value.quantize(exponent):f}", return_type=str, when_used="json")


StoredMoney = Annotated[Decimal, stored_decimal(2)]
"""An amount of money in an answer (columns `Numeric(18, 2)`)."""


def given(field: str) -> dict[str, Any]:
    """JSON Schema for "`field` is sent, and not null", to state a rule between fields."""
    return {"required": [field], "properties": {field: {"not": {"type": "null"}}}}


def when(field: str, value: str) -> dict[str, Any]:
    """JSON Schema for "`field` is `value`"."""
    return {"required": [field], "properties": {field: {"const": value}}}


def unless(field: str, value: str) -> dict[str, Any]:
    """JSON Schema for "`field` is not `value`" (or not sent)."""
    return {"properties": {field: {"not": {"const": value}}}}


class ProblemFieldError(BaseModel):
    field: str = Field(examples=["username"])
    code: str = Field(examples=["unique"])
    message: str = Field(examples=["already in use"])


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "https://errors.salescrm.dev/user.username_taken",
                    "title": "Conflict",
                    "status": 409,
                    "detail": "The username 'li.lei' is taken.",
                    "code": "user.username_taken",
                    "errors": [{"field": "username", "code": "unique", "message": "already in use"}],
                }
            ]
        }
    )

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[ProblemFieldError] = Field(default_factory=list)
    existing_id: str | None = Field(
        default=None, description="On a duplicate: the id of the existing record."
    )
    matched_field: str | None = Field(default=None, description="On a duplicate: which field matched.")
    existing_code: str | None = Field(
        default=None, description="On a duplicate customer the caller may see: its code."
    )
    existing_name: str | None = Field(
        default=None, description="On a duplicate customer or lead the caller may see: its name."
    )
    existing_status: str | None = Field(
        default=None, description="On a duplicate lead the caller may see: its status."
    )
    existing_owner_name: str | None = Field(
        default=None,
        description="On a duplicate customer or lead: its owner's name, also when the caller may not see "
        "the record (then without its code, name and status; a customer also without its id), so they "
        "know whom to ask.",
    )


def name_of(what: str) -> Any:
    """A read-only `<reference>_name` field next to `<reference>_id`, filled by api/display_names."""
    return Field(
        default=None,
        description=f"The {what}'s display name, read-only, for screens and exports; null when the id is "
        "null or the record it points at was deleted (or its personal data erased).",
    )


def names_of(what: str) -> Any:
    """A read-only `<reference>_names` list beside a list `<reference>_ids`, filled by api/display_names."""
    return Field(
        default_factory=list,
        description=f"The {what}' display names, read-only, in the order of the ids beside them; null for "
        "an id whose record was deleted (or its personal data erased).",
    )


class Record(BaseModel):
    """Fields every resource carries."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    version: int = Field(description="Incremented on every change; send it back as If-Match.", examples=[1])
    created_at: datetime
    updated_at: datetime


def _null_left_out(schema: dict[str, Any]) -> None:
    options = [option for option in schema.pop("anyOf") if option != {"type": "null"}]
    schema.update(options[0])


NotNull = Field(default=None, json_schema_extra=_null_left_out)
"""A PatchModel field typed `X | None = NotNull`: like `X | SkipJsonSchema[None]` (the contract shows
X; PatchModel refuses null), but validated as X alone, so an error names the field
(`stages[1].kind`), not a member of a union (`stages.list[...][1].kind`, `stages.none`)."""


class PatchModel(BaseModel):
    """A partial update: omit a field to keep it. Fields typed `X | SkipJsonSchema[None]` are optional
    but not nullable; an explicit null for them is refused, null clears only `nullable_fields`."""

    model_config = ConfigDict(extra="forbid")
    nullable_fields: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _refuse_null_for_required_columns(self) -> Self:
        for name in self.model_fields_set:
            if getattr(self, name) is None and name not in self.nullable_fields:
                raise ValueError(f"{name} may be omitted but not null")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class ListPage(BaseModel):
    """What every list answers besides its items: the cursor, and with `include=total` a count."""

    next_cursor: str | None
    total: int | None = Field(
        default=None,
        description="With include=total: how many records the list holds over all pages, counted up "
        "to 10,000 (else null).",
    )
    total_capped: bool | None = Field(
        default=None, description="With include=total: true when the list holds more than `total`."
    )

    @classmethod
    def of(cls, page: Page[Any], items: Sequence[Any]) -> Self:
        """The answer for a service's page: its `items` as answered, its cursor and its count."""
        return cls(
            items=items, next_cursor=page.next_cursor, total=page.total, total_capped=page.total_capped
        )
