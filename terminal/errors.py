"""Errors that reach a cashier or a CLI user as one clear sentence."""

from __future__ import annotations


class UserFacingError(Exception):
    """An error whose message says what happened and what to do."""

    exit_code = 1


class UsageError(UserFacingError):
    """A wrong command-line argument."""

    exit_code = 2


class ConfigError(UserFacingError):
    """A broken or inconsistent configuration file."""

    exit_code = 2
