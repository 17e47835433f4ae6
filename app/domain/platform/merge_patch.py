"""JSON Merge Patch (RFC 7396): how a partial change of a JSON document applies to it, and the
schema such a change of a typed document follows."""

from __future__ import annotations

from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    WrapValidator,
    create_model,
)


def merge_patch(target: Any, patch: Any) -> Any:
    """`patch` applied to `target`: objects merge key by key, a null removes its key (back to the
    default), anything else replaces what was there. Neither argument is changed."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def patch_model(model: type[BaseModel]) -> type[BaseModel]:
    """The schema of a merge patch of `model`'s documents: every field optional and nullable (null:
    back to the default), objects patched field by field and maps key by key, unknown keys refused.
    Values keep their types and bounds; checks across fields wait for the merged document."""
    fields: dict[str, Any] = {
        name: (
            _patch_type(info.annotation, [m for m in info.metadata if not isinstance(m, _VALIDATORS)]) | None,
            Field(default=None, description=info.description),
        )
        for name, info in model.model_fields.items()
    }
    return create_model(
        f"{model.__name__}Patch",
        __config__=ConfigDict(extra="forbid", allow_inf_nan=False),
        __doc__=f"A JSON Merge Patch (RFC 7396) of {model.__name__}.",
        __module__=model.__module__,
        **fields,
    )


_VALIDATORS = (AfterValidator, BeforeValidator, PlainValidator, WrapValidator)


def _patch_type(annotation: Any, metadata: list[Any]) -> Any:
    members = [member for member in get_args(annotation) if member is not type(None)]
    if get_origin(annotation) in (Union, UnionType) and len(members) == 1:
        annotation = members[0]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return patch_model(annotation)
    if get_origin(annotation) is dict:
        key, value = get_args(annotation)
        annotation = dict[key, value | None]  # type: ignore[valid-type]
    return Annotated[annotation, *metadata] if metadata else annotation
