"""The root of every error jiriaf-fw raises on purpose.

The CLI prints a `JiriafError` as one line on stderr and exits non-zero; anything else is a bug and shows a
traceback. Each boundary defines its subclasses next to its code.
"""


class JiriafError(Exception):
    """An expected failure with a message fit for the user: what failed, on which value, what to do."""

    exit_code: int = 1


class ConfigError(JiriafError):
    """A site config, or a value in it, is invalid. The message names the file, the key and the value."""

    exit_code = 2


class WalltimeError(JiriafError):
    """A Slurm duration cannot be parsed, or is too short to leave the agent its stop margin."""

    exit_code = 2


class PortRangeError(JiriafError):
    """A port range such as `10000-19999` is malformed or outside the unprivileged ports."""

    exit_code = 2


class PortsExhaustedError(JiriafError):
    """A port range has fewer free ports than a pilot needs."""


class RenderError(JiriafError):
    """A script template cannot be rendered safely from the values it was given."""
