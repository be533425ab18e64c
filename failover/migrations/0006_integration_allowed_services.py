"""Integrations feed only the services they are explicitly allowed (DESIGN invariant 15).

Existing integrations start with an empty allow-list, so they feed nothing until someone
chooses their services: guessing them (every service, or every service where the account
holds `declare`) would keep today's hole open, where one tool's alert pre-approves another
team's failover. Deliveries for a service not on the list are refused with the command to run
in their outcome, and the migration says which integrations are affected.
"""

import sys

from django.db import migrations, models


def say_which_integrations_feed_nothing(apps, schema_editor):
    names = list(apps.get_model("failover", "Integration").objects.values_list("name", flat=True))
    if names:
        sys.stdout.write(
            f"\n  {len(names)} integration(s) now feed no service until allowed "
            f"({', '.join(names[:10])}{' …' if len(names) > 10 else ''}): "
            "manage.py create_integration --allow NAME --service SLUG, or the admin\n"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("failover", "0005_guardian_object_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="integration",
            name="services",
            field=models.ManyToManyField(
                blank=True,
                help_text="The only services it may feed signals to (its account also needs "
                "'declare' on each); empty feeds nothing",
                related_name="integrations",
                to="failover.service",
            ),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="status",
            field=models.CharField(
                choices=[
                    ("received", "Received"),
                    ("processed", "Processed"),
                    ("duplicate", "Duplicate"),
                    ("ignored", "Ignored"),
                    ("failed", "Failed"),
                    ("refused", "Refused"),
                ],
                default="received",
                max_length=10,
            ),
        ),
        migrations.RunPython(say_which_integrations_feed_nothing, migrations.RunPython.noop),
    ]
