"""What the demo builders share with the command that runs them: progress reporting and the error
that stops a seed."""

from collections.abc import Callable, Iterable

__all__ = ["Progress", "SeedError", "no_progress"]

# A progress wrapper: (iterable, description, unit) -> iterable. The command passes tqdm.
Progress = Callable[[Iterable, str, str], Iterable]


def no_progress(iterable: Iterable, desc: str = "", unit: str = "") -> Iterable:
    return iterable


class SeedError(Exception):
    """The database is not in a state the seed can build on; the message says what to do."""
