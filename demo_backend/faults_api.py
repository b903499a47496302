"""The fault API (``/_faults``) and request stats (``/_stats``), behind the admin guard.

Scope of an operation: the body's ``scope`` (POST only), else ``?scope=``, else
the ``X-Fault-Scope`` header, else global (add, get, delete) or all (list,
reset, stats).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from . import faults
from .errors import error, header, json_body
from .faults import FaultSpecError
from .injector import SCOPE_HEADER, Injector, scope_error
from .registry import DuplicateFault, TooManyFaults
from .security import admin_guard

bp = Blueprint("faults", __name__)
bp.before_request(admin_guard)


def _injector() -> Injector:
    injector: Injector = current_app.extensions["fault_injector"]
    return injector


class BadScope(Exception):
    """``?scope=`` or ``X-Fault-Scope`` is invalid; the same 400 as on every other route."""

    def __init__(self, exc: FaultSpecError, field: str) -> None:
        super().__init__(exc.message)
        self.response = scope_error(exc, field)


def _scope_arg() -> str | None:
    for field, raw in (("scope", request.args.get("scope")), (SCOPE_HEADER, header(SCOPE_HEADER))):
        if raw:
            try:
                return faults.check_scope(raw)
            except FaultSpecError as exc:
                raise BadScope(exc, field) from None
    return None


@bp.errorhandler(FaultSpecError)
def _bad_spec(exc: FaultSpecError) -> Any:
    return jsonify(exc.to_dict()), 400


@bp.errorhandler(BadScope)
def _bad_scope(exc: BadScope) -> Any:
    return exc.response


def _listed(fault: faults.Fault) -> dict[str, Any]:
    return {**fault.to_dict(), "hits": _injector().registry.hits(fault)}


@bp.get("/_faults")
def list_faults() -> Any:
    """All faults, or one scope's with ``?scope=`` / ``X-Fault-Scope``."""
    scope = _scope_arg()
    registry = _injector().registry
    chosen = registry.all() if scope is None else registry.in_scope(scope)
    return jsonify({"faults": [_listed(f) for f in chosen]})


@bp.get("/_faults/types")
def fault_types() -> Any:
    """The fault types and their own fields (the common fields apply to all)."""
    return jsonify(
        {
            "common": list(faults.COMMON_FIELDS),
            "types": {name: list(cls.FIELDS) for name, cls in sorted(faults.TYPES.items())},
        }
    )


@bp.post("/_faults")
def add_fault() -> Any:
    """Add a fault; 400 naming the bad field, 409 if the name is taken in that scope."""
    spec = json_body()
    args = faults.parse(spec, default_scope=_scope_arg())
    try:
        fault = _injector().registry.add(spec["type"], args)
    except DuplicateFault as exc:
        return error(
            409, "duplicate_fault", f"a fault named {exc} exists in this scope", field="name"
        )
    except TooManyFaults as exc:
        return error(
            409,
            "too_many_faults",
            str(exc),
            field="scope" if exc.per_scope else "type",
            max=exc.limit,
        )
    return jsonify(_listed(fault)), 201


@bp.get("/_faults/<name>")
def get_fault(name: str) -> Any:
    fault = _injector().registry.get(name, _scope_arg())
    return jsonify(_listed(fault)) if fault else error(404, "not_found", f"no fault {name!r}")


@bp.delete("/_faults/<name>")
def delete_fault(name: str) -> Any:
    if _injector().registry.remove(name, _scope_arg()):
        return "", 204
    return error(404, "not_found", f"no fault {name!r}")


@bp.post("/_faults/reset")
def reset() -> Any:
    """Clear faults and stats: everything, or only one scope's with ``?scope=``."""
    scope = _scope_arg()
    injector = _injector()
    removed = injector.registry.reset(scope, everything=scope is None)
    injector.stats.reset(scope)
    injector.waker.wake_all()
    return jsonify({"reset": "all" if scope is None else scope, "faults_removed": removed})


@bp.get("/_stats")
def stats() -> Any:
    """Requests per route and status, overall and per scope."""
    return jsonify(_injector().stats.snapshot(_scope_arg()))


@bp.route("/_faults/<path:rest>", methods=list(faults.HTTP_METHODS))
@bp.route("/_stats/<path:rest>", methods=list(faults.HTTP_METHODS))
def no_such_admin_route(rest: str) -> Any:
    """Unknown admin paths are a JSON 404, never the static site."""
    return error(404, "not_found", f"no admin route {request.path[:80]!r}")
