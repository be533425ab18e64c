"""The demo's single sign-on (bin/run-local starts devidp): its users are the demo people,
linked to their devidp subjects by username, which production never does."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model

from failover.demo.data import PASSWORD, USERS
from identity.models import ExternalIdentity
from identity.oidc import issuer


def link_demo_identities(usernames: Iterable[str]) -> int:
    """The demo only (bin/run-local): link the seeded demo users to their devidp subjects
    (subject = username). Production never links by username: an ExternalIdentity is made by a
    first sign-in, or by an administrator who checked who the subject is."""
    User = get_user_model()
    linked = 0
    for user in User.objects.filter(username__in=list(usernames), external_identity=None):
        _, made = ExternalIdentity.objects.get_or_create(
            issuer=issuer(), subject=user.username, defaults={"user": user}
        )
        linked += made
    return linked


def demo_provider(users_file: str) -> str:
    """The demo only (bin/run-local): write devidp's users (the demo people, password "demo",
    their demo group as a provider group), link them, and return OIDC_GROUP_MAP as JSON."""

    def slug(name: str) -> str:
        return name.lower().replace(" ", "-")

    people: list[dict[str, Any]] = [
        {
            "username": username,
            "password": PASSWORD,
            "name": f"{first} {last}",
            "email": f"{username}@example.test",
            "groups": [slug(group)],
            "disabled": False,
        }
        for username, (first, last, group) in USERS.items()
    ]
    people.append(
        {"username": "admin", "password": PASSWORD, "name": "Ada Admin", "groups": []}
        | {"email": "admin@example.test", "disabled": False}
    )
    Path(users_file).write_text(json.dumps(people, indent=1))
    link_demo_identities([p["username"] for p in people])
    return json.dumps({slug(group): group for _, _, group in USERS.values()})
