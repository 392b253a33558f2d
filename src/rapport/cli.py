"""The ``rapport`` command: Django's manage.py for this project, plus Rapport's own
commands (serve, worker, demo, createstaff, token) as management commands."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rapport.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["rapport", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    main()
