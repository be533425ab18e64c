"""Turns a ProviderAccount row into a ready adapter (paths resolved, rate limit attached)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from django.conf import settings

from dnsproviders.base import Provider, ProviderError
from dnsproviders.models import ProviderAccount
from dnsproviders.ratelimit import acquire
from dnsproviders.rfc2136.provider import Rfc2136Provider
from dnsproviders.route53.provider import Route53Provider
from dnsproviders.zonefile.provider import ZoneFileProvider


def zone_dir(account: ProviderAccount) -> Path:
    sub = str(account.settings.get("directory", "")).strip("/")
    if ".." in Path(sub).parts:
        raise ProviderError("zone directory must stay inside DNS_ZONE_DIR", permanent=True)
    return Path(settings.DNS_ZONE_DIR) / sub


def provider_for(account: ProviderAccount) -> Provider:
    config = dict(account.settings)
    if account.kind == ProviderAccount.Kind.ZONE_FILE:
        config["path"] = str(zone_dir(account))
        return ZoneFileProvider(config)
    if account.kind == ProviderAccount.Kind.RFC2136:
        return Rfc2136Provider(config)
    if account.kind == ProviderAccount.Kind.ROUTE53:
        key = f"route53:{config.get('aws_account_id') or account.name}"
        limiter = partial(
            acquire, key, rate=settings.ROUTE53_RATE_PER_SECOND, burst=settings.ROUTE53_BURST
        )
        return Route53Provider(config, acquire=limiter)
    raise ProviderError(f"unknown provider kind {account.kind!r}", permanent=True)
