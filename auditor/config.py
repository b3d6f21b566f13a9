"""Configuration: a YAML file validated into typed models.

Unknown or mistyped keys are errors that name the key and the file. Secrets are never stored in the
config: it names environment variables or files, which are read only when a secret is needed.
"""

from __future__ import annotations

import math
import os
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from auditor.errors import ConfigError

DEFAULT_SERVICE_ACCOUNT_PATTERN = r"^(svc|sa|service|srv|noreply|no-reply|scan|scanner|printer|smtp|relay|app)[-_.]"
MAX_CONFIG_BYTES = 1024 * 1024  # a config is a few KiB; this also stops ``-c /dev/zero``
MAX_SECRET_BYTES = 64 * 1024
MAX_YAML_DEPTH = 64
MAX_YAML_ALIASES = 100


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, allow_inf_nan=False)


OVERRIDABLE = ("waivers", "rules", "classification", "legacy_mfa", "email", "schedule")


class TenantOverrides(_Strict):
    """A tenant's own ``waivers``, ``rules``, ``classification``, ``legacy_mfa``, ``email`` and ``schedule``.

    Each value has the shape of the global key of the same name but may be partial: mappings are merged
    key-wise over the global defaults (``rules.<id>`` field by field, ``rules.<id>.params`` key by key),
    lists replace the global list, except ``waivers``, which are added to the global waivers. The merged
    result is validated as a whole by :meth:`AuditorConfig.for_tenant`.
    """

    waivers: list[dict[str, Any]] | None = None
    rules: dict[str, dict[str, Any]] | None = None
    classification: dict[str, Any] | None = None
    legacy_mfa: dict[str, Any] | None = None
    email: dict[str, Any] | None = None
    schedule: dict[str, Any] | None = None


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
    overrides: TenantOverrides | None = None

    @model_validator(mode="after")
    def _check(self) -> TenantConfig:
        creds = [self.client_secret_env, self.client_secret_file, self.certificate_path]
        if sum(c is not None for c in creds) != 1:
            raise ValueError("set exactly one of client_secret_env, client_secret_file or certificate_path")
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
            with open(file, "rb") as handle:
                raw = handle.read(MAX_SECRET_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"The secret file {file} for {what} cannot be read ({exc.strerror}).") from exc
        if len(raw) > MAX_SECRET_BYTES:
            raise ConfigError(f"The secret file {file} for {what} is too large to hold a secret (over 64 KiB).")
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            text = "\x00"
        if "\x00" in text:
            raise ConfigError(f"The secret file {file} for {what} is not text (it must hold the secret in UTF-8).")
        return text
    return None


class ScheduleConfig(_Strict):
    cron: str = "0 7 * * mon"
    timezone: str = "UTC"
    misfire_grace_seconds: int = Field(default=6 * 3600, ge=1)
    #: a scheduled audit still running after this is abandoned: its tenant lock is released and the run
    #: recorded as failed (the next scheduled time runs normally)
    run_deadline_seconds: float = Field(default=12 * 3600, gt=0)

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

    def anchored(self, base: Path) -> StorageConfig:
        """This storage with a relative SQLite path resolved against ``base`` (the config file's folder):
        the history is the same database whatever the working directory of the run."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(self.url)
        except (ArgumentError, ValueError):
            return self  # the history store names the bad URL when it is used
        database = url.database
        if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
            return self
        if database.startswith("file:") or Path(database).is_absolute():
            return self
        absolute = url.set(database=str((base / database).resolve()))
        return StorageConfig(url=absolute.render_as_string(hide_password=False))


class ReportsConfig(_Strict):
    dir: str = "reports/out"
    # None: every registered output format. Names are checked against the renderer registry by
    # ``auditor.render.registry.validate_formats`` (the config knows nothing about renderers).
    formats: list[str] | None = None
    keep_runs: int = Field(default=52, ge=1)
    # Runs in the report's trend of open findings per severity (this run and the ones before it, from
    # history); 0 leaves the trend out. Runs pruned by keep_runs are gone from the trend too.
    trend_runs: int = Field(default=12, ge=0, le=200)

    @field_validator("trend_runs")
    @classmethod
    def _trend_needs_two(cls, value: int) -> int:
        if value == 1:
            raise ValueError("a trend needs at least 2 runs; use 0 to leave the trend out")
        return value


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
    # The delivery channel's name; ``auditor.deliver.validate_email_config`` checks it (and the channel's
    # own section) against the channel registry.
    transport: str = "graph"
    sender: str
    to: list[str] = Field(min_length=1)
    cc: list[str] = Field(default_factory=list)
    smtp: SmtpConfig | None = None
    zip_attachments_over_mb: float = 3.0
    # Above this (encoded) size only the workbook is attached, or nothing; the body names the report folder.
    max_attachment_mb: float = Field(default=20.0, gt=0)


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
            except (re.error, RecursionError, OverflowError) as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return patterns


class ClassificationConfig(_Strict):
    admin_roles: Literal["all"] | list[str] = "all"
    include_guests: bool = False
    service_accounts: ServiceAccountConfig = Field(default_factory=ServiceAccountConfig)
    # Emergency access ("break-glass") accounts: UPNs, object ids or group names (rules.md v2).
    emergency_access: list[str] = Field(default_factory=list)


def _finite(value: Any) -> Any:
    """Reject ``.nan`` / ``.inf`` anywhere inside a rule parameter (no rule can compare against them)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("not a finite number")
    if isinstance(value, list):
        for item in value:
            _finite(item)
    elif isinstance(value, dict):
        for item in value.values():
            _finite(item)
    return value


class RuleConfig(_Strict):
    enabled: bool = True
    severity: Literal["critical", "high", "medium", "low", "info"] | None = None
    params: dict[str, Annotated[Any, AfterValidator(_finite)]] = Field(default_factory=dict)


class Waiver(_Strict):
    rule: str
    entity: str
    reason: str = Field(min_length=1)
    expires: date | None = None
    approved_by: str = Field(min_length=1)
    # The tenant the waiver is for; None: every tenant. A waiver never applies to another tenant.
    tenant: str | None = None


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
    #: the longest one source may take (all its pages and retries); past it the source fails with the reason
    source_deadline_seconds: float = Field(default=3 * 3600, gt=0)


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

    def for_tenant(self, name: str) -> AuditorConfig:
        """The effective configuration of tenant ``name``: its ``overrides`` merged over the global keys,
        and only the waivers that apply to it (no ``tenant:``, or ``tenant: <name>``).

        A name that is not configured (a demo or snapshot run) gets the global defaults, still without
        other tenants' waivers. Raises ``ConfigError`` naming ``tenants[i].overrides.<key>`` when the
        merged result is invalid.
        """
        try:
            return self._effective(name)
        except ValidationError as exc:
            raise ConfigError(self._explain_override(exc, name, "configuration")) from exc

    def _explain_override(self, exc: ValidationError, name: str, origin: str) -> str:
        """The error of tenant ``name``'s merged configuration, named by its ``overrides`` key path."""
        index = next(i for i, t in enumerate(self.tenants) if t.name == name)
        return _explain(exc, origin, prefix=f"tenants[{index}].overrides", waiver_offset=len(self.waivers))

    def _effective(self, name: str) -> AuditorConfig:
        tenant = next((t for t in self.tenants if t.name == name), None)
        overrides = tenant.overrides if tenant is not None else None
        data = {key: getattr(self, key) for key in type(self).model_fields}
        if overrides is not None:
            given = overrides.model_dump(exclude_none=True)
            base = self.model_dump(include=set(OVERRIDABLE), exclude_unset=False)
            for key, value in given.items():
                if key == "waivers":
                    data["waivers"] = [*base["waivers"], *value]
                elif key == "rules":
                    rules = dict(base["rules"])
                    for rule_id, rule in value.items():
                        rules[rule_id] = _merge(rules.get(rule_id, {}), rule)
                    data["rules"] = rules
                else:
                    data[key] = _merge(base[key] or {}, value)
            effective = AuditorConfig.model_validate(data)
        else:
            effective = self.model_copy()
        effective.waivers = [w for w in effective.waivers if w.tenant in (None, name)]
        return effective


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``, mappings merged key-wise (recursively); anything else replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _check_waiver_tenants(config: AuditorConfig, origin: str) -> None:
    """Refuse a waiver naming a tenant that is not configured, or, inside a tenant's overrides, another."""
    names = {t.name for t in config.tenants}
    for index, waiver in enumerate(config.waivers):
        if waiver.tenant is not None and names and waiver.tenant not in names:
            raise ConfigError(
                f"{origin}: invalid value for 'waivers[{index}].tenant': no tenant named {waiver.tenant!r} "
                f"is configured."
            )
    for t_index, tenant in enumerate(config.tenants):
        for index, raw in enumerate((tenant.overrides.waivers or []) if tenant.overrides else []):
            named = raw.get("tenant")
            if named is not None and named != tenant.name:
                raise ConfigError(
                    f"{origin}: invalid value for 'tenants[{t_index}].overrides.waivers[{index}].tenant': "
                    f"a waiver in tenant {tenant.name!r}'s overrides cannot name tenant {named!r}."
                )


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _explain(exc: ValidationError, origin: str, prefix: str = "", waiver_offset: int = 0) -> str:
    """One sentence naming the key at fault; ``prefix``: the errors are of a tenant's merged overrides
    (whose added waivers follow the ``waiver_offset`` global ones)."""
    err = exc.errors()[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "literal"))))
    if prefix and len(loc) > 1 and loc[0] == "waivers" and isinstance(loc[1], int):
        loc = ("waivers", loc[1] - waiver_offset, *loc[2:])
    key = _loc(loc) or "(top level)"
    if prefix:
        key = f"{prefix}.{key}"
    if err["type"] == "extra_forbidden":
        return f"{origin}: unknown key '{key}'."
    if err["type"] == "missing":
        return f"{origin}: missing required key '{key}'."
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"{origin}: invalid value for '{key}': {msg}."


def parse_config(data: Any, origin: str = "configuration") -> AuditorConfig:
    """Validate configuration data. Rule ids, parameters and waivers are checked against the rule registry
    by ``auditor.rules.settings.validate_rule_settings`` (the config knows nothing about rules)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping of keys to values.")
    try:
        config = AuditorConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, origin)) from exc
    _check_waiver_tenants(config, origin)
    for tenant in config.tenants:
        if tenant.overrides is None:
            continue
        try:
            config._effective(tenant.name)  # the merged result must be valid too
        except ValidationError as exc:
            raise ConfigError(config._explain_override(exc, tenant.name, origin)) from exc
    return config


class _Refused(yaml.YAMLError):
    """A YAML document the loader refuses although it parses (duplicate keys, too deep, alias loops)."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class _ConfigLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys, very deep nesting and alias tricks; bad dates stay text.

    A date such as ``2027-13-45`` is left as the string it is, so the model names the key at fault.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._open_anchors: list[str] = []

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise _Refused(f"more than {MAX_YAML_ALIASES} aliases", event.start_mark)
            if event.anchor in self._open_anchors:
                raise _Refused(f"alias *{event.anchor} refers to the collection that contains it", event.start_mark)
            return super().compose_node(parent, index)
        anchor = getattr(event, "anchor", None)
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise _Refused(f"nested more than {MAX_YAML_DEPTH} levels deep", event.start_mark)
        if anchor:
            self._open_anchors.append(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if anchor:
                self._open_anchors.pop()

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _value in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:  # unhashable: the base class says so
                    continue
                if duplicate:
                    raise _Refused(f"duplicate key '{str(key)[:60]}'", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)

    def construct_lenient_timestamp(self, node: Any) -> Any:
        try:
            return self.construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            return self.construct_scalar(node)


_ConfigLoader.add_constructor("tag:yaml.org,2002:timestamp", _ConfigLoader.construct_lenient_timestamp)


def load_yaml_text(text: str) -> Any:
    """Parse configuration YAML with :class:`_ConfigLoader` (raises ``yaml.YAMLError`` or ``ValueError``)."""
    loader = _ConfigLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_config(path: str | os.PathLike[str]) -> AuditorConfig:
    """Read, parse and validate a config file; every problem is one ``ConfigError`` sentence."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError as exc:
        raise ConfigError(f"Configuration file {path} does not exist.") from exc
    except OSError as exc:
        raise ConfigError(f"Configuration file {path} cannot be read ({exc.strerror}).") from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"Configuration file {path} is larger than 1 MiB; is it the right file?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"Configuration file {path} is not UTF-8 text (bad byte at offset {exc.start}).") from exc
    try:
        data = load_yaml_text(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None)
        detail = f" ({' '.join(str(problem).split())[:160]})" if problem else ""
        raise ConfigError(f"Configuration file {path} is not valid YAML{where}{detail}.") from exc
    except (ValueError, OverflowError, RecursionError) as exc:
        detail = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise ConfigError(f"Configuration file {path} is not valid YAML ({detail}).") from exc
    config = parse_config(data, origin=str(path))
    config.storage = config.storage.anchored(path.resolve().parent)
    return config


def resolve_config_path(explicit: str | None) -> Path | None:
    """``-c`` wins, then ``$ENTRA_AUDITOR_CONFIG``, then ``config/auditor.yaml`` when present."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("ENTRA_AUDITOR_CONFIG")
    if env:
        return Path(env)
    default = Path("config/auditor.yaml")
    return default if default.exists() else None
