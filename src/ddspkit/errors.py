"""User-facing errors: the CLI prints their message on one line and exits non-zero."""


class UserError(Exception):
    """A problem with the user's input (a file, a model name, an option), not a bug.

    Its message is one line that names the file or value and says what is wrong.
    """

    def _render_traceback_(self) -> list[str]:
        """What IPython and Jupyter show instead of a traceback: the one line the CLI prints.
        The cell still fails, so "Run all" stops there."""
        return [f"error: {self}"]
