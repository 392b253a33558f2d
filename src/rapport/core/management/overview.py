"""The head of ``rapport help``: Rapport's own commands first, before Django's long list."""

from __future__ import annotations

from django.core.management import get_commands, load_command_class

RAPPORT_COMMANDS = ("serve", "worker", "smtpd", "createstaff", "token", "demo")


def rapport_commands_help() -> str:
    """One line per Rapport command: its name and the first sentence of its help."""
    commands = get_commands()
    lines = ["Rapport's commands (`rapport help <command>` for details):", ""]
    for name in RAPPORT_COMMANDS:
        if name in commands:
            text = str(load_command_class(commands[name], name).help)
            lines.append(f"    {name:<12} {text.split('. ')[0].rstrip('.')}.")
    lines += ["", "Django's commands, by app, follow."]
    return "\n".join(lines)
