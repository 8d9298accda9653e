"""The one exception type for bad input anywhere in the project.

The command line (reproduce/) turns it into a single line ``error: <message>`` and exit
status 2, so its message must name the file or value at fault and say what to do.
"""


class InputError(ValueError):
    """Expected bad input: a missing path, an unreadable image, an unknown name..."""
