"""mailflow: a support inbox turned into a disciplined requirement desk."""

__version__ = "0.1.0"
