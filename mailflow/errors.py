"""Errors a user may see.

Every error mailflow raises on purpose carries one line that makes sense on
its own (``file:line: what is wrong`` where a file is involved), so the CLI
can print it without a traceback and a batch can log it and go on.
"""


class MailflowError(Exception):
    """A problem the user can act on; ``str(err)`` is the one-line message."""


class ConfigError(MailflowError):
    """The TOML configuration is missing, unreadable or wrong."""


class RuleError(MailflowError):
    """A YAML rule file is broken; the message starts with ``file:line:``."""


class ParseError(MailflowError):
    """A message cannot be turned into a ParsedMail; it is quarantined, never lost."""


class TemplateError(MailflowError):
    """A reply template failed to load or render; nothing half-rendered is queued."""


class BlobError(MailflowError):
    """An attachment could not be written to the blob store; the mail is kept raw, with the reason."""
