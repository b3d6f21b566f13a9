"""Every exception the auditor raises on purpose.

The CLI turns any ``AuditorError`` into one sentence and an exit code; anything else is a bug and
shows a traceback only with ``--debug``.

    AuditorError                      base; ``exit_code`` is what the CLI returns
    ├── ConfigError                   invalid or missing configuration (exit 2)
    ├── UsageError                    bad command-line usage (exit 2)
    ├── SnapshotError                 a snapshot file is corrupt, truncated or of another version (exit 2)
    ├── CollectError                  collection of a tenant failed as a whole (exit 3)
    │   ├── AuthError                 no token could be obtained (bad secret, unknown tenant, TLS)
    │   └── SourceError               one data source failed; recorded as coverage, never fatal alone
    │       └── PermissionDenied      the app lacks a permission/role/licence for a source (403)
    ├── StorageError                  the history database could not be read or written (exit 3)
    ├── RenderError                   a report could not be written (exit 3)
    └── DeliveryError                 the email could not be delivered (exit 3)
"""

from __future__ import annotations


class AuditorError(Exception):
    """Base class: an expected failure with a one-sentence message."""

    exit_code = 3


class ConfigError(AuditorError):
    exit_code = 2


class UsageError(AuditorError):
    exit_code = 2


class SnapshotError(AuditorError):
    exit_code = 2


class CollectError(AuditorError):
    exit_code = 3


class AuthError(CollectError):
    pass


class SourceError(CollectError):
    """One data source could not be collected. ``reason`` is shown in coverage."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class PermissionDenied(SourceError):
    pass


class LicenceMissing(SourceError):
    """The tenant lacks the licence a source needs (Entra ID P1/P2): the source does not exist for the
    tenant, so it is ``skipped`` with this reason, not failed, and the run stays ``complete``."""


class StorageError(AuditorError):
    exit_code = 3


class RenderError(AuditorError):
    exit_code = 3


class DeliveryError(AuditorError):
    exit_code = 3
