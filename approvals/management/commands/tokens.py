"""Operators' view of API tokens: list them (how long each lives, when it was stepped up),
rotate one (the new secret is printed once) or revoke one.

Rotating a token that can decide, execute or roll back is refused here: it is minted again
only by its own person, after their step-up, on the tokens page."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from approvals.models import ApiToken
from approvals.tokens import (
    describe,
    is_acting,
    is_service_account,
    revoke_token,
    rotate_token,
    tokens_page_url,
)
from failover.errors import ServiceError

COLUMNS = ("prefix", "user", "name", "actions", "services", "expires", "stepped up", "state")


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


class Command(BaseCommand):
    help = (
        "List, rotate or revoke API tokens: tokens list [--user U] | rotate PREFIX | revoke PREFIX"
    )

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="command", required=True)
        listing = commands.add_parser("list", help="every token, newest first")
        listing.add_argument("--user", help="only this user's tokens")
        listing.add_argument("--all", action="store_true", help="include revoked tokens")
        rotate = commands.add_parser("rotate", help="a new secret, same scopes; old revoked")
        rotate.add_argument("prefix")
        revoke = commands.add_parser("revoke", help="the token stops working at once")
        revoke.add_argument("prefix")

    def handle(self, command, **options):
        if command == "list":
            return self._list(options.get("user"), options.get("all"))
        token = ApiToken.objects.select_related("user").filter(prefix=options["prefix"]).first()
        if token is None:
            raise CommandError(f"no token with prefix {options['prefix']!r}")
        if command == "revoke":
            revoke_token(token=token, actor=None)
            self.stdout.write(f"revoked {token.prefix} ({token.name} of {token.user})")
            return
        if is_acting(token.actions) and not is_service_account(token.user):
            raise CommandError(
                f"{token.prefix} can decide, execute or roll back: it is personal, so only "
                f"{token.user.get_username()} rotates it, after confirming it is them, on "
                f"{tokens_page_url()} (you can revoke it here: tokens revoke {token.prefix})"
            )
        try:
            new, plain = rotate_token(token=token, actor=None)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(f"rotated {token.prefix} -> {new.prefix}; the new token, shown once:")
        self.stdout.write(plain)

    def _list(self, username, include_revoked):
        tokens = ApiToken.objects.select_related("user", "rotated_from").prefetch_related(
            "services"
        )
        if username:
            user = get_user_model().objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"no user {username!r}")
            tokens = tokens.filter(user=user)
        if not include_revoked:
            tokens = tokens.filter(revoked_at__isnull=True)
        rows, now = [], timezone.now()
        for token in tokens.order_by("-created_at", "-id"):
            info = describe(token)
            state = "revoked" if token.revoked_at else "live"
            if state == "live" and token.expires_at and token.expires_at <= now:
                state = "expired"
            rows.append(
                (
                    info["prefix"],
                    info["user"],
                    info["name"],
                    ",".join(token.actions) or "all",
                    ",".join(info["services"]) or "all",
                    _when(info["expires_at"]) if info["expires_at"] else "never",
                    _when(info["stepped_up_at"]),
                    state,
                )
            )
        widths = [max(len(str(r[i])) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
        for row in [COLUMNS, *rows]:
            self.stdout.write(
                "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
            )
