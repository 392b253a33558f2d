"""``rapport createstaff USERNAME --role ROLE``: add a staff member from the shell."""

from __future__ import annotations

import secrets
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from rapport.core.errors import Conflict, InvalidInput
from rapport.people import services
from rapport.people.models import Role


def generate_password() -> str:
    """A password a person can type: 4 groups of 5 URL-safe characters (about 120 bits)."""
    raw = secrets.token_urlsafe(15)
    return "-".join(raw[i : i + 5] for i in range(0, 20, 5))


class Command(BaseCommand):
    help = (
        "Create a staff member who can sign in. Without --password a strong password is generated "
        "and printed once. The team is created if it does not exist."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username", help="the sign-in name, e.g. jsmith")
        parser.add_argument(
            "--role", choices=Role.values, default=Role.AGENT.value, help="what they may do (default: agent)"
        )
        parser.add_argument("--password", help="initial password (checked against the password rules)")
        parser.add_argument("--email", default="", help="their email address")
        parser.add_argument("--team", help="team name; created if new")
        parser.add_argument("--first-name", default="", help="given name")
        parser.add_argument("--last-name", default="", help="family name")

    def handle(self, *args: Any, **options: Any) -> None:
        password = options["password"] or generate_password()
        try:
            staff = services.create_staff(
                actor=None,
                username=options["username"],
                role=options["role"],
                password=password,
                email=options["email"],
                team=options["team"],
                first_name=options["first_name"],
                last_name=options["last_name"],
            )
        except Conflict as exc:
            raise CommandError(exc.detail) from None
        except InvalidInput as exc:
            raise CommandError(_describe(exc)) from None
        team = f" in team {staff.team}" if staff.team else ""
        self.stdout.write(f"Created {Role(staff.role).label.lower()} '{staff.username}'{team}.")
        if not options["password"]:
            self.stdout.write(f"Password (shown only now): {password}")


def _describe(exc: InvalidInput) -> str:
    return " ".join(f"{'' if name == '__all__' else name + ': '}{' '.join(msgs)}" for name, msgs in exc.errors.items())
