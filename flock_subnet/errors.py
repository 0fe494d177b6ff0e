"""The project's base error type: every error a user can meet says what to do next."""


class FlockError(Exception):
    """Base class of every error flock_subnet raises on purpose."""
