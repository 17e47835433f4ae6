"""Query parameters the list screens share, declared and read once: owners (`me` for the caller),
teams, tags, repeatable ids and periods whose bounds are a day or an instant. A parameter given
several times means any of its values."""

# No `from __future__ import annotations` here: FastAPI reads the parameters of the dependencies
# period_query and owners_query build at runtime, and their annotations use the builders' arguments.
import uuid
from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from pydantic import PlainValidator, StringConstraints, WithJsonSchema

from app.api.deps import CurrentPrincipal, SessionDep
from app.api.schemas.common import DayOrTimestamp
from app.domain.platform.tags import MAX_TAG_LENGTH
from app.services.assignment.ownership import ME, owner_filter
from app.services.platform.list_filters import Period, period_of


def period_query(name: str, what: str) -> Any:
    """`Annotated[Period, period_query("created", "Created")]`: the `<name>_from` and `<name>_to`
    parameters, read as instants."""

    async def read_period(
        session: SessionDep,
        actor: CurrentPrincipal,
        start: Annotated[
            DayOrTimestamp | None,
            Query(
                alias=f"{name}_from",
                description=f"{what} at or after this instant, or from the start of this day (YYYY-MM-DD, "
                "in the organization's time zone).",
            ),
        ] = None,
        end: Annotated[
            DayOrTimestamp | None,
            Query(
                alias=f"{name}_to",
                description=f"{what} before this instant (the first one not included), or up to the end "
                "of this day (YYYY-MM-DD, in the organization's time zone: the day is included).",
            ),
        ] = None,
    ) -> Period:
        return await period_of(session, actor, start, end)

    return Depends(read_period)


CreatedPeriod = Annotated[Period, period_query("created", "Created")]
ClosedPeriod = Annotated[Period, period_query("closed", "Closed (won or lost)")]
CompletedPeriod = Annotated[Period, period_query("closed", "Closed (done or cancelled)")]
DecidedPeriod = Annotated[Period, period_query("closed", "Closed (accepted or rejected by the customer)")]
OccurredPeriod = Annotated[Period, period_query("occurred", "Happened")]


def _user_or_me(value: Any) -> uuid.UUID | str:
    # One reading, so a bad value is reported as the parameter's, not as each branch of a union.
    if value == ME:
        return ME
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValueError('a user id (UUID) or "me"') from None


UserOrMe = Annotated[
    uuid.UUID | Literal["me"],
    PlainValidator(_user_or_me),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "uuid"}, {"type": "string", "const": ME}]}),
]


def owners_query(name: str, description: str) -> Any:
    """`Annotated[list[uuid.UUID] | None, owners_query("owner_id", ...)]`: repeatable user ids, `me`
    read as the caller."""

    async def read_owners(
        actor: CurrentPrincipal,
        given: Annotated[
            list[UserOrMe] | None,
            Query(
                alias=name,
                max_length=20,
                description=f"{description}; `me` is the caller. Repeat for any of several.",
            ),
        ] = None,
    ) -> list[uuid.UUID] | None:
        return owner_filter(actor, given, field=name)

    return Depends(read_owners)


OwnerIds = Annotated[list[uuid.UUID] | None, owners_query("owner_id", "Owned by this user")]
AssigneeIds = Annotated[list[uuid.UUID] | None, owners_query("assignee_id", "Given to this user")]

IdFilter = Annotated[list[uuid.UUID] | None, Query(max_length=20, description="Repeat for any of several.")]
TeamIds = Annotated[
    list[uuid.UUID] | None,
    Query(
        max_length=20,
        description="Owned by a member of this team; repeat for any of several. Narrows what you see, "
        "never widens it.",
    ),
]
Tags = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_TAG_LENGTH)]] | None,
    Query(alias="tag", max_length=20, description="Carrying this tag; repeat for any of several."),
]


def text_query(description: str) -> Any:
    """`Annotated[str | None, text_query("Part of the title or the notes.")]`: `q` on a list whose
    text is not a name or a phone number."""
    return Query(min_length=1, max_length=100, description=description)


SearchText = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=100,
        description="Part of the name (or of the other fields the operation names), or of a phone "
        "number typed any way (`138 0013 8000`, `138-0013-8000`, `+86 138...`).",
    ),
]
