"""JSON Merge Patch (RFC 7396): how a partial change of a JSON document applies to it."""

from __future__ import annotations

from typing import Any


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
