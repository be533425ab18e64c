from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from approvals.models import ApiToken
from approvals.tokens import ACTING, create_token, max_lifetime, tokens_page_url
from failover.errors import ServiceError
from failover.models import Service

DEFAULT_ACTIONS = ["declare", "read"]


def _expiry(raw: str | None):
    if not raw:
        return None
    amount_text = raw[:-1]
    if raw[-1] in "dh" and amount_text.isascii() and amount_text.isdigit():
        amount = int(amount_text)
        if amount > 3650 * 24:
            raise CommandError("--expires is at most ten years away")
        return timezone.now() + (
            timedelta(days=amount) if raw[-1] == "d" else timedelta(hours=amount)
        )
    try:
        moment = parse_datetime(raw)
    except ValueError:
        moment = None
    if moment is None:
        raise CommandError("--expires takes e.g. 30d, 12h or an ISO 8601 date-time")
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


class Command(BaseCommand):
    help = (
        "Create an API token that reads, declares or audits (no --action: read and declare) "
        "for a user or service account; prints only the token. A token that can decide, "
        "execute or roll back is personal: its person mints it on the tokens page."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="api")
        parser.add_argument("--expires", help="30d, 12h or an ISO 8601 date-time")
        parser.add_argument("--service", action="append", default=[], help="limit to a service")
        parser.add_argument(
            "--action",
            action="append",
            default=[],
            choices=ApiToken.ACTIONS,
            help="limit to these actions (repeat): " + ", ".join(ApiToken.ACTIONS),
        )

    def handle(self, username, name, expires, service, action, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        acting = sorted(set(action) & ACTING)
        if acting:
            raise CommandError(
                f"a token that can {', '.join(acting)} is personal: {username} mints it after "
                f"confirming it is them, on {tokens_page_url()} (it lives at most "
                f"{max_lifetime().total_seconds() / 3600:g} h)"
            )
        action = action or DEFAULT_ACTIONS
        services = list(Service.objects.filter(slug__in=service))
        unknown = set(service) - {x.slug for x in services}
        if unknown:
            raise CommandError(f"no service {', '.join(sorted(unknown))}")
        try:
            token, plain = create_token(
                user=user, name=name, expires_at=_expiry(expires), services=services, actions=action
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(f"token {token.prefix}: {', '.join(token.actions)}")
        self.stdout.write(plain)
