"""``rapport token USERNAME``: issue an API token. Prints the token and nothing else, so
scripts can capture it (``TOKEN=$(rapport token jsmith)``)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from rapport.people import services
from rapport.people.models import Staff


class Command(BaseCommand):
    help = (
        "Issue an API bearer token for a staff member and print only the token. It is shown once; "
        "only its digest is stored."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username", help="the staff member the token acts as")

    def handle(self, *args: Any, **options: Any) -> None:
        staff = Staff.objects.filter(username=options["username"]).first()
        if staff is None:
            raise CommandError(f"No staff member is called '{options['username']}'.")
        if not staff.is_active:
            raise CommandError(f"'{staff.username}' is deactivated; a token for them would not work.")
        self.stdout.write(services.issue_token(actor=None, staff=staff))
