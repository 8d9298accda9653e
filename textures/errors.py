"""Kept for older imports: the project's exception types live in errors.py at the root."""
from errors import InputError  # noqa: F401
