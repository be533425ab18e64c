from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from approvals.models import ServiceAccount
from audit.actions import SERVICE_ACCOUNT_CREATED
from audit.services import record_event


class Command(BaseCommand):
    help = "Create a service account: a non-human principal (no password) for tokens and tools."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--description", default="")

    @transaction.atomic
    def handle(self, username, description, **options):
        users = get_user_model()
        if users.objects.filter(username=username).exists():
            raise CommandError(f"a user {username!r} already exists")
        user = users(username=username)
        user.set_unusable_password()  # it signs in only with tokens or integration secrets
        user.save()
        ServiceAccount.objects.create(user=user, description=description)
        record_event(
            action=SERVICE_ACCOUNT_CREATED,
            obj=user,
            actor=None,
            data={"username": username, "description": description},
        )
        self.stdout.write(f"service account {username} created")
