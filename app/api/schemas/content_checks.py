"""One validation round: a body the schema refuses is also checked against the domain rules of its
content that need no database, so one 422 lists both kinds of mistake.

A request model opts in by deriving from `ContentChecked` and naming the domain functions that check
its content (`parse_conditions`, `parse_stages` ...). A body the schema accepts is checked by its
service with the same functions (and then the references that need the database, which may still
answer in a second round), under the problem code it always had.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError, ValidatorFunctionWrapHandler, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from app.domain.platform.errors import InvalidInput

ContentCheck = Callable[[Mapping[str, Any]], object]

_PATH_STEP = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


@dataclass(frozen=True)
class Checking:
    """A check of the body's `key` with a domain function, when the body sends a value there.

    `of_the_whole`: the function checks only how the items of a list go together (stage names,
    duplicate rules), reading them leniently, while the schema checks each item; its errors then
    join the schema's even where an item was refused, unless the schema refused the list itself."""

    key: str
    parse: Callable[[Any], object]
    of_the_whole: bool = False

    def __call__(self, body: Mapping[str, Any]) -> None:
        if body.get(self.key) is not None:
            self.parse(body[self.key])


def checking(key: str, parse: Callable[[Any], object], *, of_the_whole: bool = False) -> ContentCheck:
    return Checking(key, parse, of_the_whole)


class ContentChecked(BaseModel):
    """A request body whose content checks join its schema errors (see the module's docstring)."""

    content_checks: ClassVar[tuple[ContentCheck, ...]] = ()

    @model_validator(mode="wrap")
    @classmethod
    def _one_validation_round(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return validate_with_content_checks(data, handler, cls.content_checks)


def validate_with_content_checks(
    data: Any, handler: ValidatorFunctionWrapHandler, checks: tuple[ContentCheck, ...]
) -> Any:
    """The model `handler` builds from `data`, or one ValidationError with the schema's errors and
    the `checks`' errors on the body as sent; a check's error on a field the schema already
    refused (or inside it, or around it) is left for the next round."""
    try:
        return handler(data)
    except ValidationError as refusal:
        if not isinstance(data, Mapping):
            raise
        schema_errors = refusal.errors()
        added = [
            error
            for error, of_the_whole in _content_errors(data, checks)
            if not any(_overlap(error["loc"], tuple(found["loc"]), of_the_whole) for found in schema_errors)
        ]
        if not added:
            raise
        kept: list[InitErrorDetails] = [
            {
                "type": PydanticCustomError(found["type"], found["msg"], found.get("ctx")),
                "loc": tuple(found["loc"]),
                "input": found["input"],
            }
            for found in schema_errors
        ]
        raise ValidationError.from_exception_data(refusal.title, kept + added) from refusal


def _content_errors(
    body: Mapping[str, Any], checks: tuple[ContentCheck, ...]
) -> list[tuple[InitErrorDetails, bool]]:
    """Each check's errors, with whether the check is of a list as a whole."""
    errors: list[tuple[InitErrorDetails, bool]] = []
    for check in checks:
        of_the_whole = isinstance(check, Checking) and check.of_the_whole
        try:
            check(body)
        except InvalidInput as refused:
            errors += [
                (
                    {
                        "type": PydanticCustomError(error.code, error.message),
                        "loc": field_location(error.field),
                        "input": None,
                    },
                    of_the_whole,
                )
                for error in refused.errors
            ]
    return errors


def field_location(field: str) -> tuple[str | int, ...]:
    """A domain error's `field` (`stages[0].required_evidence[1].kind`) as a pydantic location."""
    return tuple(int(index) if index else name for index, name in _PATH_STEP.findall(field))


def _overlap(content: tuple[Any, ...], schema: tuple[Any, ...], of_the_whole: bool) -> bool:
    """Whether the schema's error is at the content error's place, inside it or around it; for a
    check of the whole, only at it or around it."""
    if of_the_whole:
        return content[: len(schema)] == schema
    shorter = min(len(content), len(schema))
    return content[:shorter] == schema[:shorter]
