"""User-facing errors: the CLI prints them on one line and exits with code 2, no traceback."""


class QloomError(Exception):
    """A mistake the user can fix (bad input, missing dataset, unsupported model).

    The message says what went wrong, where, and what to do about it.
    """

    exit_code = 2
