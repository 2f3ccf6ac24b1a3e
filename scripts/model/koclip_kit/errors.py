"""The kit's exception types (their own module, so the command line can catch them without
importing torch)."""


class KitError(Exception):
    """A failure the user can act on; the command line prints it without a traceback."""

    exit_code = 1


class InputError(KitError):
    """Bad input from the user (a file they named, its contents): exit code 2, like a bad argument."""

    exit_code = 2
