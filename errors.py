"""The project's two exception types. This module imports nothing, so every folder can
raise them without depending on another.

The command line (reproduce/__main__.py) turns each into one last line ``error: <message>``
and exit status 2, so a message must name the file or value at fault and say what to do.
"""


class InputError(ValueError):
    """Expected bad input: a missing path, an unreadable image, an unknown name..."""


class TrainingError(RuntimeError):
    """Training failed in a way the user must hear about (e.g. the loss became NaN)."""
