"""The kit's one exception type (its own module, so the command line can catch it without
importing torch)."""


class KitError(Exception):
    """A failure the user can act on; the command line prints it without a traceback."""
