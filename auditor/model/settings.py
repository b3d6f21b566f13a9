"""The model's slice of the configuration, as the shapes it reads (no dependency on ``auditor.config``).

The model needs two things from the configuration: how to classify users and the fallback for the legacy
MFA service settings. They are declared here as read-only protocols, so the configuration's sections (or
any plain object with these attributes) are passed in as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol


class ServiceAccountSettings(Protocol):
    """Signals that mark a user a service account (any one is enough)."""

    @property
    def upn_patterns(self) -> Sequence[str]: ...
    @property
    def display_name_patterns(self) -> Sequence[str]: ...
    @property
    def groups(self) -> Sequence[str]: ...
    @property
    def upns(self) -> Sequence[str]: ...


class ClassificationSettings(Protocol):
    """Which roles make an admin, whether guests count as daily accounts, and the service-account signals."""

    @property
    def admin_roles(self) -> Literal["all"] | Sequence[str]: ...
    @property
    def include_guests(self) -> bool: ...
    @property
    def service_accounts(self) -> ServiceAccountSettings: ...
    @property
    def emergency_access(self) -> Sequence[str]: ...


class LegacyMfaFallback(Protocol):
    """The legacy MFA service settings as declared by the operator, for when the endpoint cannot be read."""

    @property
    def trusted_ips(self) -> Sequence[str]: ...
    @property
    def allow_app_passwords(self) -> bool | None: ...
    @property
    def remember_mfa_days(self) -> int | None: ...
    @property
    def model_fields_set(self) -> set[str]: ...
