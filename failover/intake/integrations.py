"""Setting integrations up: creating one with a secret, rotating and retiring secrets, and
checking mapping rules. The plain secret is returned to the caller once and never stored."""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.contrib.auth import get_user_model
from django.db import transaction

from audit.actions import (
    INTEGRATION_CREATED,
    INTEGRATION_SECRET_ADDED,
    INTEGRATION_SECRETS_RETIRED,
    INTEGRATION_SERVICES_CHANGED,
)
from audit.services import record_event
from failover.chain import holds
from failover.errors import Conflict, InvalidInput, NotFound
from failover.intake import credentials, tools
from failover.intake.models import Integration
from failover.models import Metric, Service
from failover.rollback import normalise_criteria

COMMON_RULES = {"services", "metric", "value", "targets", "rollback_criteria"}


def _names(value) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()
    )


def check_rules(kind: str, rules) -> dict:
    """The rules if they make sense for this kind of integration, else InvalidInput."""
    if not isinstance(rules, dict):
        raise InvalidInput("the rules must be a JSON object", {"rules": "not an object"})
    errors = {}
    tool = tools.REGISTRY.get(kind)
    allowed = COMMON_RULES | (tool.rule_keys if tool else set())
    unknown = sorted(set(rules) - allowed)
    if unknown:
        errors["rules"] = f"unknown keys {', '.join(unknown)}; known: {', '.join(sorted(allowed))}"
    for key in ("services", "targets"):
        if key in rules and not _names(rules[key]):
            errors[f"rules.{key}"] = "must map names to non-empty names"
    if "metric" in rules and rules["metric"] not in Metric.values:
        errors["rules.metric"] = f"one of {', '.join(Metric.values)}"
    value = rules.get("value", 0)
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors["rules.value"] = "must be a number"
    if tool is not None:
        errors.update(tool.rule_errors(rules))
    if "rollback_criteria" in rules:
        try:
            normalise_criteria(rules["rollback_criteria"])
        except InvalidInput as exc:
            errors.update(exc.fields or {"rules.rollback_criteria": exc.message})
    if errors:
        raise InvalidInput("invalid integration rules", errors)
    return rules


def _secret(plain: str | None) -> str:
    if plain is None:
        return credentials.new_secret()
    try:
        return credentials.check_secret(plain)
    except ValueError as exc:
        raise InvalidInput(str(exc), {"secret": str(exc)}) from None


@transaction.atomic
def create_integration(
    *,
    actor,
    name: str,
    kind: str,
    account: str,
    rules=None,
    secret: str | None = None,
    rate_limit_per_minute: int | None = None,
    services=(),
) -> tuple[Integration, str]:
    """-> (integration, the plain secret to hand over once). `services`: the slugs it may
    feed; none feeds nothing."""
    if kind not in tools.REGISTRY:
        raise InvalidInput("unknown kind", {"kind": f"one of {', '.join(tools.kinds())}"})
    if not re.fullmatch(r"[-a-zA-Z0-9_]{1,80}", name or ""):
        raise InvalidInput("invalid name", {"name": "letters, digits, - and _ (at most 80)"})
    if Integration.objects.filter(name=name).exists():
        raise Conflict(f"an integration '{name}' already exists")
    user = get_user_model().objects.filter(username=account, is_active=True).first()
    if user is None:
        raise NotFound(f"no active user '{account}' (the service account to act as)")
    rules = check_rules(kind, {} if rules is None else rules)
    allowed = _services(services)
    plain = _secret(secret)
    integration = Integration.objects.create(
        name=name,
        kind=kind,
        account=user,
        rules=rules,
        secrets=[credentials.stored(kind, plain)],
        **({"rate_limit_per_minute": rate_limit_per_minute} if rate_limit_per_minute else {}),
    )
    integration.services.set(allowed)
    record_event(
        action=INTEGRATION_CREATED,
        obj=integration,
        actor=actor,
        data={
            "name": name,
            "kind": kind,
            "account": user.username,
            "rules": rules,
            "services": sorted(s.slug for s in allowed),
        },
    )
    return integration, plain


def _services(slugs) -> list[Service]:
    slugs = sorted(set(slugs or ()))
    found = list(Service.objects.filter(slug__in=slugs))
    unknown = sorted(set(slugs) - {s.slug for s in found})
    if unknown:
        raise InvalidInput(
            "unknown service", {"services": f"no service {', '.join(map(repr, unknown))}"}
        )
    return found


def record_allowed_services(*, actor, integration: Integration, before: set[str]) -> None:
    """Audit a change of the allow-list (the admin saves the list itself, then calls this)."""
    after = set(integration.services.values_list("slug", flat=True))
    if after == before:
        return
    record_event(
        action=INTEGRATION_SERVICES_CHANGED,
        obj=integration,
        actor=actor,
        data={
            "name": integration.name,
            "services": sorted(after),
            "added": sorted(after - before),
            "removed": sorted(before - after),
        },
    )


@transaction.atomic
def change_allowed_services(*, actor, name: str, add=(), remove=()) -> Integration:
    """Add services to, or take them off, what an integration may feed."""
    integration = _lock(name)
    before = set(integration.services.values_list("slug", flat=True))
    integration.services.add(*_services(add))
    integration.services.remove(*_services(remove))
    record_allowed_services(actor=actor, integration=integration, before=before)
    return integration


def without_declare(integration: Integration) -> list[str]:
    """Allowed services on which the account lacks `declare`: signals for them are refused."""
    return [
        s.slug for s in integration.services.all() if not holds(integration.account, s, "declare")
    ]


def _lock(name: str) -> Integration:
    integration = Integration.objects.select_for_update().filter(name=name).first()
    if integration is None:
        raise NotFound(f"no integration '{name}'")
    return integration


@transaction.atomic
def rotate_secret(*, actor, name: str, secret: str | None = None) -> tuple[Integration, str]:
    """Add a new secret; the old ones keep working until retired."""
    integration = _lock(name)
    plain = _secret(secret)
    integration.secrets = [
        *(integration.secrets or []),
        credentials.stored(integration.kind, plain),
    ]
    integration.save(update_fields=["secrets"])
    record_event(
        action=INTEGRATION_SECRET_ADDED,
        obj=integration,
        actor=actor,
        data={"name": name, "secrets": len(integration.secrets)},
    )
    return integration, plain


@transaction.atomic
def retire_old_secrets(*, actor, name: str) -> Integration:
    """Keep only the newest secret."""
    integration = _lock(name)
    if not integration.secrets:
        raise Conflict(f"integration '{name}' has no secret to keep")
    retired = len(integration.secrets) - 1
    integration.secrets = integration.secrets[-1:]
    integration.save(update_fields=["secrets"])
    record_event(
        action=INTEGRATION_SECRETS_RETIRED,
        obj=integration,
        actor=actor,
        data={"name": name, "retired": retired},
    )
    return integration
