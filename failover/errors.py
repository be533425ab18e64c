"""Errors the services layer raises. Each door turns them into its own response (HTTP status,
form message, admin message); the message is always fit to show to the person who acted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class ServiceError(Exception):
    code = "error"

    def __init__(self, message: str, **extra: Any):
        super().__init__(message)
        self.message = message
        self.extra = extra


class InvalidInput(ServiceError):
    code = "invalid"

    def __init__(self, message: str, fields: Mapping[str, str] | None = None):
        super().__init__(message, fields=dict(fields or {}))
        self.fields = dict(fields or {})


class NotFound(ServiceError):
    code = "not_found"


class NotAuthorised(ServiceError):
    code = "not_authorised"

    def __init__(self, authority: str, service_slug: str, message: str | None = None):
        super().__init__(
            message or f"you do not hold the '{authority}' authority on service '{service_slug}'",
            authority=authority,
        )
        self.authority = authority


class OwnRequest(NotAuthorised):
    code = "own_request"

    def __init__(self, authority: str, service_slug: str):
        super().__init__(
            authority,
            service_slug,
            "you declared this request; someone else must approve or sign it off",
        )


class Conflict(ServiceError):
    code = "conflict"


class WrongState(Conflict):
    code = "wrong_state"

    def __init__(self, state: str, action: str):
        super().__init__(f"cannot {action}: the request is {state}", state=state)


class AlreadyDecided(Conflict):
    code = "already_decided"


class PlanChanged(Conflict):
    code = "plan_changed"

    def __init__(self, current_plan_hash: str):
        super().__init__(
            "the plan has changed since you loaded it; review the current plan and decide again",
            current_plan_hash=current_plan_hash,
        )
        self.current_plan_hash = current_plan_hash


class Blocked(Conflict):
    code = "blocked"

    def __init__(self, reasons: Iterable[str]):
        reasons = list(reasons)
        super().__init__("execution is blocked: " + "; ".join(reasons), reasons=reasons)


class ProviderUnavailable(ServiceError):
    code = "provider_unavailable"


class IncompleteChain(Conflict):
    code = "incomplete_chain"

    def __init__(self, service_slug: str, missing: Iterable[str]):
        missing = list(missing)
        super().__init__(
            f"service '{service_slug}' cannot be failed over: its authority chain has no "
            f"holder for {', '.join(missing)}",
            missing=missing,
        )
