"""The one exception type that library code raises for bad input.

The CLI turns :class:`McmotError` into a one-line message on stderr and exit
code 1; library callers can catch it like any other exception.
"""


class McmotError(Exception):
    """A user-facing error: bad input, a missing file, an impossible option.

    The message must be one line and say what is wrong and, where possible,
    how to fix it.
    """
