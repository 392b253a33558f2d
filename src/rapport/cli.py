"""The ``rapport`` command: Django's manage.py for this project, plus Rapport's own
commands (serve, worker, demo, createstaff, token) as management commands."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rapport.settings")
    from django.core.management import execute_from_command_line

    args = argv if argv is not None else sys.argv[1:]
    if args in ([], ["help"], ["--help"], ["-h"]):
        _print_rapport_commands()
    execute_from_command_line(["rapport", *args])


def _print_rapport_commands() -> None:
    """Rapport's own commands on top, so they are not lost among Django's."""
    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except ImproperlyConfigured:
        return  # Django's help below explains the settings problem
    from rapport.core.management.overview import rapport_commands_help

    print(rapport_commands_help())


if __name__ == "__main__":
    main()
