"""Configuration: a YAML file validated into typed models.

Unknown or mistyped keys are errors that name the key and the file. Secrets are never stored in the
config: it names environment variables or files, which are read only when a secret is needed.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from auditor.errors import ConfigError

DEFAULT_SERVICE_ACCOUNT_PATTERN = (
    r"^(svc|sa|service|srv|noreply|no-reply|scan|scanner|printer|smtp|relay|app)[-_.]"
)
CLOUDS = ("global", "usgov", "usgovdod", "china", "custom")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class TenantConfig(_Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    tenant_id: str
    client_id: str
    client_secret_env: str | None = None
    client_secret_file: str | None = None
    certificate_path: str | None = None
    certificate_password_env: str | None = None
    certificate_password_file: str | None = None
    cloud: Literal["global", "usgov", "usgovdod", "china", "custom"] = "global"
    authority_host: str | None = None
    graph_endpoint: str | None = None
    exchange_endpoint: str | None = None
    ca_bundle: str | None = None

    @model_validator(mode="after")
    def _check(self) -> TenantConfig:
        creds = [self.client_secret_env, self.client_secret_file, self.certificate_path]
        if sum(c is not None for c in creds) != 1:
            raise ValueError(
                "set exactly one of client_secret_env, client_secret_file or certificate_path"
            )
        if self.cloud == "custom":
            for key in ("authority_host", "graph_endpoint", "exchange_endpoint"):
                value = getattr(self, key)
                if not value or not str(value).startswith("https://"):
                    raise ValueError(f"{key} must be an https:// URL when cloud is custom")
        return self

    def client_secret(self) -> str | None:
        """Read the client secret from its env var or file (only when needed)."""
        return _read_secret(self.client_secret_env, self.client_secret_file, f"tenant {self.name}")

    def certificate_password(self) -> str | None:
        if not (self.certificate_password_env or self.certificate_password_file):
            return None
        return _read_secret(
            self.certificate_password_env, self.certificate_password_file, f"tenant {self.name} certificate"
        )


def _read_secret(env: str | None, file: str | None, what: str) -> str | None:
    if env:
        value = os.environ.get(env)
        if not value:
            raise ConfigError(f"The secret for {what} is expected in environment variable {env}, which is not set.")
        return value
    if file:
        try:
            return Path(file).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"The secret file {file} for {what} cannot be read ({exc.strerror}).") from exc
    return None


class ScheduleConfig(_Strict):
    cron: str = "0 7 * * mon"
    timezone: str = "UTC"
    misfire_grace_seconds: int = Field(default=6 * 3600, ge=1)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError("must be a five-field cron expression such as '0 7 * * mon'")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class StorageConfig(_Strict):
    url: str = "sqlite:///entra-auditor-history.db"


class ReportsConfig(_Strict):
    dir: str = "reports/out"
    formats: list[Literal["html", "xlsx", "json", "csv"]] = Field(default_factory=lambda: ["html", "xlsx", "json"])
    keep_runs: int = Field(default=52, ge=1)


class SmtpConfig(_Strict):
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    ssl: bool = False
    username_env: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    timeout_seconds: float = 60
    ca_bundle: str | None = None

    def password(self) -> str | None:
        return _read_secret(self.password_env, self.password_file, "SMTP")

    def username(self) -> str | None:
        if not self.username_env:
            return None
        value = os.environ.get(self.username_env)
        if not value:
            raise ConfigError(
                f"The SMTP user name is expected in environment variable {self.username_env}, which is not set."
            )
        return value


class EmailConfig(_Strict):
    transport: Literal["graph", "smtp"] = "graph"
    sender: str
    to: list[str] = Field(min_length=1)
    cc: list[str] = Field(default_factory=list)
    smtp: SmtpConfig | None = None
    zip_attachments_over_mb: float = 3.0

    @model_validator(mode="after")
    def _check(self) -> EmailConfig:
        if self.transport == "smtp" and self.smtp is None:
            raise ValueError("transport smtp needs an smtp section")
        return self


class ServiceAccountConfig(_Strict):
    upn_patterns: list[str] = Field(default_factory=lambda: [DEFAULT_SERVICE_ACCOUNT_PATTERN])
    display_name_patterns: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    upns: list[str] = Field(default_factory=list)

    @field_validator("upn_patterns", "display_name_patterns")
    @classmethod
    def _regexes(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return patterns


class ClassificationConfig(_Strict):
    admin_roles: Literal["all"] | list[str] = "all"
    include_guests: bool = False
    service_accounts: ServiceAccountConfig = Field(default_factory=ServiceAccountConfig)


class RuleConfig(_Strict):
    enabled: bool = True
    severity: Literal["critical", "high", "medium", "low", "info"] | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class Waiver(_Strict):
    rule: str
    entity: str
    reason: str = Field(min_length=1)
    expires: date | None = None
    approved_by: str = Field(min_length=1)


class LegacyMfaConfig(_Strict):
    trusted_ips: list[str] = Field(default_factory=list)
    allow_app_passwords: bool | None = None
    remember_mfa_days: int | None = None

    @field_validator("trusted_ips")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        import ipaddress

        for value in values:
            try:
                net = ipaddress.ip_network(value, strict=False)
            except ValueError as exc:
                raise ValueError(f"{value!r} is not an IP range in CIDR notation") from exc
            if net.version != 4:
                raise ValueError(f"{value!r}: legacy MFA trusted IPs are IPv4 only")
        return values


class CollectConfig(_Strict):
    sign_in_window_days: int = Field(default=30, ge=1, le=30)
    max_concurrency: int = Field(default=8, ge=1, le=64)
    max_retries: int = Field(default=8, ge=0, le=20)
    timeout_seconds: float = Field(default=60, gt=0)
    tenant_concurrency: int = Field(default=4, ge=1, le=64)


class AuditorConfig(_Strict):
    tenants: list[TenantConfig] = Field(default_factory=list)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    email: EmailConfig | None = None
    classification: ClassificationConfig = Field(default_factory=ClassificationConfig)
    rules: dict[str, RuleConfig] = Field(default_factory=dict)
    waivers: list[Waiver] = Field(default_factory=list)
    legacy_mfa: LegacyMfaConfig | None = None
    collect: CollectConfig = Field(default_factory=CollectConfig)

    @model_validator(mode="after")
    def _unique_tenants(self) -> AuditorConfig:
        seen: set[str] = set()
        for tenant in self.tenants:
            if tenant.name in seen:
                raise ValueError(f"tenant name {tenant.name!r} is used twice")
            seen.add(tenant.name)
        return self

    def tenant(self, name: str) -> TenantConfig:
        for tenant in self.tenants:
            if tenant.name == name:
                return tenant
        known = ", ".join(t.name for t in self.tenants) or "none"
        raise ConfigError(f"No tenant named {name!r} in the configuration (configured: {known}).")


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _explain(exc: ValidationError, origin: str) -> str:
    err = exc.errors()[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "literal"))))
    key = _loc(loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"{origin}: unknown key '{key}'."
    if err["type"] == "missing":
        return f"{origin}: missing required key '{key}'."
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return f"{origin}: invalid value for '{key}': {msg}."


def parse_config(data: Any, origin: str = "configuration") -> AuditorConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping of keys to values.")
    try:
        config = AuditorConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, origin)) from exc
    from auditor.rules import validate_rule_config

    validate_rule_config(config, origin)
    return config


def load_config(path: str | os.PathLike[str]) -> AuditorConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise ConfigError(f"Configuration file {path} does not exist.") from exc
    except OSError as exc:
        raise ConfigError(f"Configuration file {path} cannot be read ({exc.strerror}).") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"Configuration file {path} is not valid YAML{where}.") from exc
    return parse_config(data, origin=str(path))


def resolve_config_path(explicit: str | None) -> Path | None:
    """``-c`` wins, then ``$ENTRA_AUDITOR_CONFIG``, then ``config/auditor.yaml`` when present."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("ENTRA_AUDITOR_CONFIG")
    if env:
        return Path(env)
    default = Path("config/auditor.yaml")
    return default if default.exists() else None
