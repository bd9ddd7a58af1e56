"""The error a check raises for one input it refuses, naming that input."""

from __future__ import annotations


class FieldError(ValueError):
    """A value refused; ``field`` names the input at fault (an API answers 422 naming it, a
    form shows the message next to it). Each module subclasses it with a name of its own."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
