"""User-facing errors: the CLI prints their message on one line and exits non-zero."""


class UserError(Exception):
    """A problem with the user's input (a file, a model name, an option), not a bug.

    Its message is one line that names the file or value and says what is wrong.
    """
