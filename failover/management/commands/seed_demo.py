from django.core.management.base import BaseCommand

from failover.demo.data import PASSWORD, USERS
from failover.demo.seed import seed_demo


class Command(BaseCommand):
    help = "Create the demo users, groups and services (safe to run again)."

    def handle(self, *args, **options):
        services = seed_demo()
        self.stdout.write(f"demo services: {', '.join(services)}")
        logins = ", ".join(["admin", *USERS])
        self.stdout.write(f"demo logins (password '{PASSWORD}'): {logins}")
