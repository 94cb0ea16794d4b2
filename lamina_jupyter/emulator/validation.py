"""Input resolution and validation, as the real server does it.

Inputs are resolved by parameter `key`, then `id`, then `name` (exact, case-sensitive) and
validated with the five server codes (unknown_parameter, missing_no_default, invalid_option,
invalid_type, invalid_media); every problem is reported at once.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from .apps import App, OutputSpec, Param, default_of
from .errors import ApiError, field_error


def _lookup(app: App, supplied: str) -> Param | None:
    for attr in ("key", "id", "name"):
        for p in app.params:
            if getattr(p, attr) == supplied:
                return p
    return None


def _is_http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _check(param: Param, supplied: str, value: Any) -> dict[str, Any] | None:
    if param.type == "text":
        if not isinstance(value, str):
            return field_error(
                supplied, "invalid_type", f'"{supplied}": expected a string, got {_kind(value)}'
            )
    elif param.type == "options":
        if not isinstance(value, str):
            return field_error(
                supplied,
                "invalid_type",
                f'"{supplied}": expected one of the option labels, got {_kind(value)}',
                list(param.options),
            )
        if value not in param.options:
            return field_error(
                supplied,
                "invalid_option",
                f'"{supplied}": invalid option "{value}". Must be one of: ' + ", ".join(param.options),
                list(param.options),
            )
    elif param.type == "url":
        values = value if param.multiple and isinstance(value, list) else [value]
        if param.multiple and not isinstance(value, list | str):
            return field_error(supplied, "invalid_type", f'"{supplied}": expected a list of URLs')
        for v in values:
            if not isinstance(v, str):
                return field_error(
                    supplied, "invalid_type", f'"{supplied}": expected a URL string, got {_kind(v)}'
                )
            if not _is_http_url(v):
                return field_error(
                    supplied, "invalid_media", f'"{supplied}": "{v[:200]}" is not an http(s) URL'
                )
    return None


def _kind(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def resolve_inputs(app: App, inputs: Any, base_url: str) -> dict[str, Any]:
    """Return {param id: value} with defaults applied, or raise VALIDATION_ERROR listing every problem."""
    if not isinstance(inputs, dict):
        raise ApiError(
            "VALIDATION_ERROR",
            "Invalid request body",
            details=[field_error("inputs", "invalid_type", '"inputs" must be a JSON object')],
        )
    problems: list[dict[str, Any]] = []
    resolved: dict[str, Any] = {}
    for supplied, value in inputs.items():
        param = _lookup(app, supplied)
        if param is None:
            names = [p.key for p in app.params]
            problems.append(
                field_error(
                    supplied,
                    "unknown_parameter",
                    f'"{supplied}": unknown parameter. Known: ' + ", ".join(names),
                    names,
                )
            )
            continue
        problem = _check(param, supplied, value)
        if problem:
            problems.append(problem)
        else:
            resolved[param.id] = value
    for p in app.params:
        if p.id not in resolved and not any(d["field"] in (p.key, p.id, p.name) for d in problems):
            if p.has_default:
                resolved[p.id] = default_of(p, base_url)
            else:
                problems.append(
                    field_error(
                        p.key,
                        "missing_no_default",
                        f'"{p.name}" is required (key "{p.key}") and has no default',
                    )
                )
    if problems:
        raise ApiError("VALIDATION_ERROR", "Invalid inputs", details=problems)
    return resolved


def select_outputs(app: App, labels: Any) -> list[OutputSpec]:
    """The outputs to run: all, or those whose label matches one of `labels` case-insensitively."""
    if labels is None:
        return list(app.outputs)
    allowed = [o.label for o in app.outputs]
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise ApiError(
            "VALIDATION_ERROR",
            "Invalid outputs",
            details=[
                field_error(
                    "outputs", "invalid_type", '"outputs" must be a non-empty list of output labels', allowed
                )
            ],
        )
    wanted = {x.lower() for x in labels}
    unknown = [x for x in labels if x.lower() not in {a.lower() for a in allowed}]
    if unknown:
        raise ApiError(
            "VALIDATION_ERROR",
            "Invalid outputs",
            details=[
                field_error(
                    "outputs",
                    "invalid_option",
                    f'"outputs": unknown label "{unknown[0]}". Must be one of: ' + ", ".join(allowed),
                    allowed,
                )
            ],
        )
    return [o for o in app.outputs if o.label.lower() in wanted]
