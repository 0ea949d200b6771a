"""The demo-data registry: how apps above grid add their demo data to ``manage.py seed_demo``."""

from collections.abc import Callable

from django.utils.module_loading import import_string

__all__ = ["register_seeder", "run_seeders"]

# Apps above grid (cases, bills, ...) add their demo data to the demo city: each registers, from its
# AppConfig.ready(), a callable (or its dotted path, imported only when seeding) taking the keyword
# `actor` (the admin account) and returning a line for the command to print, or None. grid knows
# nothing of them. They run after the city and its accounts exist, in registration order.
_SEEDERS: list[Callable[..., str | None] | str] = []


def register_seeder(seeder: Callable[..., str | None] | str) -> None:
    if seeder not in _SEEDERS:
        _SEEDERS.append(seeder)


def run_seeders(*, actor) -> list[str]:
    """Run every registered seeder; returns what they report."""
    messages = []
    for seeder in _SEEDERS:
        function = import_string(seeder) if isinstance(seeder, str) else seeder
        message = function(actor=actor)
        if message:
            messages.append(message)
    return messages
