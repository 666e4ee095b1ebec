"""The one base class of errors in what a user gave lsm (a file, a flag, a workdir).

Commands (lsm.cli.run) print such an error's message, one line naming what was wrong,
and exit 2, without a traceback (--debug keeps it); any other exception is a bug and
keeps its traceback. Each error also subclasses the builtin it used to be (ValueError,
FileNotFoundError, ...), so existing `except` clauses still catch it.
"""


class UserError(Exception):
  """Something the user gave cannot be used; str() says what and why, in one line."""


class ConfigError(UserError, ValueError):
  """A config field (or a flag) whose value cannot work; the message names the field."""
