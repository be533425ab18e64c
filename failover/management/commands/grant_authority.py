from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from failover.errors import ServiceError
from failover.models import Service
from failover.services import grant_authority, revoke_authority


class Command(BaseCommand):
    help = "Grant (or --revoke) an authority on a service to a user or a group; audited."

    def add_arguments(self, parser):
        parser.add_argument("service")
        parser.add_argument("authority")
        holder = parser.add_mutually_exclusive_group(required=True)
        holder.add_argument("--user")
        holder.add_argument("--group")
        parser.add_argument("--revoke", action="store_true")

    def handle(self, service, authority, user, group, revoke, **options):
        found = Service.objects.filter(slug=service).first()
        if found is None:
            raise CommandError(f"no service {service!r}")
        holder = {}
        if user:
            holder["user"] = get_user_model().objects.filter(username=user).first()
        else:
            holder["group"] = Group.objects.filter(name=group).first()
        if None in holder.values():
            raise CommandError(f"no such {'user' if user else 'group'}")
        action = revoke_authority if revoke else grant_authority
        try:
            action(actor=None, service=found, authority=authority, **holder)
        except ServiceError as exc:
            raise CommandError(f"{exc.message}: {exc.extra.get('fields', '')}") from None
        verb = "revoked from" if revoke else "granted to"
        self.stdout.write(f"{authority} on {service} {verb} {user or group}")
