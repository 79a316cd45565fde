"""Every setting of Switchboard, loaded and validated in one place.

Settings are app settings in Azure and environment variables locally (Core Tools and the devkit
host copy `local.settings.json` `Values` into the environment). `load_settings(environ)` is pure:
it reads a mapping and returns a frozen `Settings`, or raises `SettingsError` listing every
problem, each naming the setting and what is wrong with it, never its value. `get_settings()`
caches the result for the process and logs a failure once.

Settings that have no default (credentials, the sender number) may be absent: the code that needs
one asks for it with `Settings.require(...)`, which raises `MissingSettingError` naming it. So the
app still starts, `/api/health` can say what is missing, and nothing leaks to Twilio.
"""

# Annotations are evaluated here (no `from __future__ import annotations`): a NamedTuple
# compiles each string annotation into a ForwardRef, a cost every cold start paid.
import dataclasses
import ipaddress
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar
from urllib.parse import urlsplit

from switchboard.logs import get_logger
from switchboard.own_urls import leads_back, normalise_origin
from switchboard.phone import is_e164

if TYPE_CHECKING:  # parsed by `switchboard.menu`, loaded only when VOICE_MENU is set
    from switchboard.menu import Menu

logger = get_logger(__name__)

T = TypeVar("T")

#: Settings whose values are secrets: masked in every repr and never logged.
SECRET_SETTINGS = frozenset(
    {
        "TWILIO_AUTH_TOKEN",
        "TWILIO_API_KEY_SECRET",
        "AzureWebJobsStorage",
        "DEVHOST_FUNCTION_KEY",
        "SMTP_PASSWORD",
        "INBOX_SESSION_KEY",
    }
)

#: The inbox session key of local.settings.sample.json: fine on a laptop, refused in Azure
#: (anyone who read the sample could sign sessions).
SAMPLE_INBOX_SESSION_KEY = "devkit-local-inbox-session-key-not-for-azure"
#: Shortest `INBOX_SESSION_KEY` accepted (characters): 32 random characters carry well over
#: the 128 bits an HMAC key needs.
MIN_INBOX_SESSION_KEY = 32

# Patterns as source, compiled on first use by `re.fullmatch` (the `re` module caches them),
# which matches the whole value (a `$` would also match before a final newline): a
# cold start compiling every pattern of every setting it does not have cost ~3 ms.
_SID_PATTERNS = {
    "TWILIO_ACCOUNT_SID": r"AC[0-9a-fA-F]{32}",
    "TWILIO_API_KEY_SID": r"SK[0-9a-fA-F]{32}",
    "TWILIO_MESSAGING_SERVICE_SID": r"MG[0-9a-fA-F]{32}",
}
_TABLE_NAME = r"[A-Za-z][A-Za-z0-9]{2,62}"
_QUEUE_NAME = r"(?=.{3,63}\Z)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]"
_ISO_DURATION = (
    r"P(?!\Z)(?:(?P<days>[0-9]+(?:\.[0-9]+)?)D)?"
    r"(?:T(?=[0-9])(?:(?P<hours>[0-9]+(?:\.[0-9]+)?)H)?(?:(?P<minutes>[0-9]+(?:\.[0-9]+)?)M)?"
    r"(?:(?P<seconds>[0-9]+(?:\.[0-9]+)?)S)?)?"
)
_ACCOUNT_NAME = r"[a-z0-9]{3,24}"
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
#: Set by the Azure Functions platform, never by Core Tools or the devkit: any one means "in
#: Azure". WEBSITE_INSTANCE_ID exists on App Service plans only (Windows Consumption, Premium,
#: Dedicated, App Service containers); Linux Consumption and Flex Consumption instances have none
#: but carry CONTAINER_NAME (Flex also WEBSITE_POD_NAME, LEGION_SERVICE_HOST and
#: WEBSITE_SKU=FlexConsumption); WEBSITE_SKU names every App Service plan; Azure Container Apps
#: sets MANAGED_ENVIRONMENT. (The host's own tests: IsFlexConsumptionSku, IsAnyLinuxConsumption.)
#: CONTAINER_NAME alone is also what many development containers set (this project's own CI
#: machines do), so it counts only with WEBSITE_SITE_NAME, which every Azure plan sets.
AZURE_HOST_MARKERS = (
    "WEBSITE_INSTANCE_ID",
    "WEBSITE_POD_NAME",
    "LEGION_SERVICE_HOST",
    "WEBSITE_SKU",
    "MANAGED_ENVIRONMENT",
)
#: Linux Consumption: both must be set (a container's name alone is no proof of Azure).
LINUX_CONSUMPTION_MARKERS = ("CONTAINER_NAME", "WEBSITE_SITE_NAME")
_IDENTITY_ENDPOINTS = (
    "storage_account_name",
    "storage_table_service_uri",
    "storage_queue_service_uri",
)
_CLOCK_RANGE = r"([01][0-9]|2[0-3]):([0-5][0-9]) *- *([01][0-9]|2[0-3]):([0-5][0-9])"
#: `SMTP_TLS`: STARTTLS on the submission port (the default), TLS from the first byte
#: (`implicit`, port 465), or none at all (`none`: a local test server such as aiosmtpd).
SMTP_TLS_MODES = ("starttls", "implicit", "none")
_SERVER_NAME = r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[?[0-9A-Fa-f:.]+\]?"
_MAIL_ADDRESS = r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+"


class SettingProblem(NamedTuple):
    """One invalid setting: its name and what is wrong (never its value)."""

    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


class SettingsError(ValueError):
    """One or more settings are malformed; `problems` names each."""

    def __init__(self, problems: list[SettingProblem]) -> None:
        self.problems = problems
        super().__init__("invalid settings: " + "; ".join(str(p) for p in problems))


class MissingSettingError(SettingsError):
    """A setting needed for the operation at hand is not set."""

    def __init__(self, name: str, purpose: str = "") -> None:
        reason = "is required" + (f" for {purpose}" if purpose else "") + " but not set"
        super().__init__([SettingProblem(name, reason)])
        self.name = name


class QuietHours(NamedTuple):
    """A daily local-time window with no scheduled SMS; may wrap midnight (21:00-08:00)."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        """Whether a local wall-clock time falls inside the window (end excluded)."""
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _secret(name: str) -> Any:
    return field(default=None, repr=False, metadata={"setting": name, "secret": True})


def _setting(name: str, default: Any = None) -> Any:
    if isinstance(default, tuple | list):
        return field(default_factory=lambda: tuple(default), metadata={"setting": name})
    return field(default=default, metadata={"setting": name})


@dataclass(frozen=True, repr=False, eq=False, init=False)
class Settings:
    """Validated settings. Attribute docs: README "Settings"; names: `setting_name(attr)`.

    One object per load, compared and hashed by identity, with no repr of its values (some
    are secrets), and an `__init__` that reads the fields instead of one generated for them:
    a generated method of ~75 parameters is compiled at import, and every cold start paid
    that for a call made once per process.
    """

    azure_web_jobs_storage: str = field(
        default="UseDevelopmentStorage=true",
        repr=False,
        metadata={"setting": "AzureWebJobsStorage", "secret": True},
    )
    # Identity-based storage (no connection string), used when AzureWebJobsStorage is not set.
    storage_account_name: str | None = _setting("AzureWebJobsStorage__accountName")
    storage_table_service_uri: str | None = _setting("AzureWebJobsStorage__tableServiceUri")
    storage_queue_service_uri: str | None = _setting("AzureWebJobsStorage__queueServiceUri")
    storage_credential: str | None = _setting("AzureWebJobsStorage__credential")
    storage_client_id: str | None = _setting("AzureWebJobsStorage__clientId")
    twilio_account_sid: str | None = _setting("TWILIO_ACCOUNT_SID")
    twilio_auth_token: str | None = _secret("TWILIO_AUTH_TOKEN")
    twilio_api_key_sid: str | None = _setting("TWILIO_API_KEY_SID")
    twilio_api_key_secret: str | None = _secret("TWILIO_API_KEY_SECRET")
    twilio_from_number: str | None = _setting("TWILIO_FROM_NUMBER")
    twilio_messaging_service_sid: str | None = _setting("TWILIO_MESSAGING_SERVICE_SID")
    twilio_api_base_url: str = _setting("TWILIO_API_BASE_URL", "https://api.twilio.com")
    public_base_url: str | None = _setting("PUBLIC_BASE_URL")
    twilio_validate_signature: bool = _setting("TWILIO_VALIDATE_SIGNATURE", True)
    running_in_azure: bool = _setting("WEBSITE_INSTANCE_ID", False)  # or any AZURE_HOST_MARKERS
    site_name: str | None = _setting("WEBSITE_SITE_NAME")
    #: Set by Azure: the site's default host name (`APP.azurewebsites.net`); see `callback_origin`.
    website_hostname: str | None = _setting("WEBSITE_HOSTNAME")
    outbound_call_queue: str = _setting("OUTBOUND_CALL_QUEUE", "outbound-calls")
    sms_timer_schedule: str = _setting("SMS_TIMER_SCHEDULE", "0 */1 * * * *")
    sms_max_lateness: timedelta = _setting("SMS_MAX_LATENESS", timedelta(hours=24))
    sms_quiet_hours: QuietHours | None = _setting("SMS_QUIET_HOURS")
    sms_send_concurrency: int = _setting("SMS_SEND_CONCURRENCY", 32)
    sms_max_per_second: float | None = _setting("SMS_MAX_PER_SECOND")
    table_call_log: str = _setting("TABLE_CALL_LOG", "CallLog")
    table_message_log: str = _setting("TABLE_MESSAGE_LOG", "MessageLog")
    table_sms_schedule: str = _setting("TABLE_SMS_SCHEDULE", "SmsSchedule")
    table_opt_out: str = _setting("TABLE_OPT_OUT", "OptOut")
    table_lines: str = _setting("TABLE_LINES", "Lines")
    table_contacts: str = _setting("TABLE_CONTACTS", "Contacts")
    table_inbox_users: str = _setting("TABLE_INBOX_USERS", "InboxUsers")
    table_conversations: str = _setting("TABLE_CONVERSATIONS", "Conversations")
    table_call_queue: str = _setting("TABLE_CALL_QUEUE", "CallQueue")
    # Lines (a number's own hours, greetings and call flow: switchboard.lines)
    lines_cache_seconds: int = _setting("LINES_CACHE_SECONDS", 15)
    lines_clock: datetime | None = _setting("LINES_CLOCK")  # honoured outside Azure only
    # Callers who wait (a line's queue step: switchboard.callqueue)
    queue_callback_max_age: timedelta = _setting("QUEUE_CALLBACK_MAX_AGE", timedelta(hours=24))
    # Voice behaviour (POST /api/voice/*)
    voice_greeting: str | None = _setting("VOICE_GREETING")
    voice_tts_voice: str | None = _setting("VOICE_TTS_VOICE")
    voice_language: str | None = _setting("VOICE_LANGUAGE")
    voice_menu: "Menu | None" = _setting("VOICE_MENU")
    voice_forward_to: str | None = _setting("VOICE_FORWARD_TO")
    voice_ring_timeout: int = _setting("VOICE_RING_TIMEOUT", 20)
    voice_voicemail: bool = _setting("VOICE_VOICEMAIL", True)
    voice_voicemail_max_length: int = _setting("VOICE_VOICEMAIL_MAX_LENGTH", 120)
    voice_transcribe: bool = _setting("VOICE_TRANSCRIBE", False)
    voice_blocked_callers: tuple[str, ...] = _setting("VOICE_BLOCKED_CALLERS", ())
    voice_allowed_callers: tuple[str, ...] = _setting("VOICE_ALLOWED_CALLERS", ())
    # SMS behaviour (POST /api/sms/incoming)
    sms_auto_reply: str | None = _setting("SMS_AUTO_REPLY")
    #: None: `switchboard.outbound.wording.HELP_DEFAULT`.
    sms_help_text: str | None = _setting("SMS_HELP_TEXT")
    owner_number: str | None = _setting("OWNER_NUMBER")
    # E-mail (voicemail notices: switchboard.voicemail, over switchboard.mail.smtp)
    smtp_host: str | None = _setting("SMTP_HOST")
    smtp_port: int | None = _setting("SMTP_PORT")  # None: 587, 465 or 25 by SMTP_TLS
    smtp_username: str | None = _setting("SMTP_USERNAME")
    smtp_password: str | None = _secret("SMTP_PASSWORD")
    smtp_from: str | None = _setting("SMTP_FROM")
    smtp_tls: str = _setting("SMTP_TLS", "starttls")  # starttls, implicit or none
    # The owner's inbox (switchboard.inbox): its sessions and the optional platform sign-in
    inbox_session_key: str | None = _secret("INBOX_SESSION_KEY")
    inbox_session_hours: int = _setting("INBOX_SESSION_HOURS", 12)
    inbox_app_service_auth: bool = _setting("INBOX_APP_SERVICE_AUTH", False)
    #: Set by Azure App Service when its Authentication is on (read only in Azure).
    website_auth_enabled: bool = _setting("WEBSITE_AUTH_ENABLED", False)
    # Where `numbers wire` publishes each number's fallback TwiML (a blob container Twilio reads)
    fallback_container_url: str | None = _setting("FALLBACK_CONTAINER_URL")
    # The one outbound path (switchboard.outbound): per-subject windows, destinations, budgets
    sms_auto_reply_window: timedelta = _setting("SMS_AUTO_REPLY_WINDOW", timedelta(hours=12))
    sms_forward_daily_cap: int = _setting("SMS_FORWARD_DAILY_CAP", 10)
    #: None: the countries of the account's own numbers; ("*",): every country.
    outbound_allowed_countries: tuple[str, ...] | None = _setting("OUTBOUND_ALLOWED_COUNTRIES")
    automatic_sms_daily_limit: int = _setting("AUTOMATIC_SMS_DAILY_LIMIT", 100)
    automatic_sms_burst_limit: int = _setting("AUTOMATIC_SMS_BURST_LIMIT", 20)
    voicemail_email_daily_limit: int = _setting("VOICEMAIL_EMAIL_DAILY_LIMIT", 50)
    #: Texts relayed to a line's `sms.relay` people per local day (its own ceiling).
    sms_relay_daily_limit: int = _setting("SMS_RELAY_DAILY_LIMIT", 500)
    owner_email: str | None = _setting("OWNER_EMAIL")

    def __init__(self, **values: Any) -> None:
        """Each field from `values`, else its default; an unknown name is a TypeError."""
        unknown = values.keys() - _FIELD_NAMES
        if unknown:
            raise TypeError(f"Settings has no field {sorted(unknown)[0]!r}")
        for f in dataclasses.fields(self):
            if f.name in values:
                value = values[f.name]
            elif f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
            else:
                value = f.default
            object.__setattr__(self, f.name, value)

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("secret"):
                shown = "'***'" if value else "None"
            else:
                shown = repr(value)
            parts.append(f"{f.name}={shown}")
        return f"Settings({', '.join(parts)})"

    def require(self, attribute: str, purpose: str = "") -> Any:
        """The value of `attribute`, or MissingSettingError naming its setting when unset."""
        value = getattr(self, attribute)
        if value is None or value == "":
            raise MissingSettingError(setting_name(attribute), purpose)
        return value

    @property
    def signature_validation_enabled(self) -> bool:
        """`TWILIO_VALIDATE_SIGNATURE=false` is honoured only outside Azure."""
        return self.twilio_validate_signature or self.running_in_azure

    @property
    def storage_uses_identity(self) -> bool:
        """Whether storage is reached with a token (`AzureWebJobsStorage__*`), not a string."""
        return not self.azure_web_jobs_storage

    @property
    def uses_api_key(self) -> bool:
        """Whether REST calls authenticate with an API key rather than the auth token."""
        return bool(self.twilio_api_key_sid and self.twilio_api_key_secret)

    @property
    def twilio_rest_configured(self) -> bool:
        """Whether REST calls have an account and credentials."""
        return bool(self.twilio_account_sid and (self.uses_api_key or self.twilio_auth_token))


_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(Settings))


def setting_name(attribute: str) -> str:
    """The public setting (environment variable) behind a Settings attribute."""
    for f in dataclasses.fields(Settings):
        if f.name == attribute:
            return str(f.metadata["setting"])
    raise AttributeError(attribute)


def setting_names() -> list[str]:
    """Every setting name Switchboard reads, in declaration order."""
    return [str(f.metadata["setting"]) for f in dataclasses.fields(Settings)]


# --- parsers: each returns the value or raises ValueError with a reason (never the value) ---


def parse_bool(raw: str) -> bool:
    """`true/false`, `1/0`, `yes/no`, `on/off` (any case)."""
    lowered = raw.strip().lower()
    if lowered in {"true", "1", "yes", "on"}:
        return True
    if lowered in {"false", "0", "no", "off"}:
        return False
    raise ValueError("must be true or false")


def parse_int_range(low: int, high: int) -> Callable[[str], int]:
    """A parser for an integer within [low, high]."""

    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError("must be a whole number") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def parse_positive_float(raw: str) -> float:
    """A number above zero."""
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError("must be a number") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError("must be a number above 0")
    return value


def parse_e164(raw: str) -> str:
    """An E.164 phone number."""
    value = raw.strip()
    if not is_e164(value):
        raise ValueError("must be an E.164 phone number such as +15017122661")
    return value


def parse_e164_list(raw: str) -> tuple[str, ...]:
    """Comma- or whitespace-separated E.164 numbers; the error gives the entry's position."""
    entries = [e for e in re.split(r"[,\s;]+", raw.strip()) if e]
    for position, entry in enumerate(entries, start=1):
        if not is_e164(entry):
            raise ValueError(f"entry {position} must be an E.164 phone number")
    return tuple(entries)


def is_loopback_host(host: str | None) -> bool:
    """Whether a URL's host is this machine: `localhost`, 127.0.0.0/8 or ::1."""
    if not host:
        return False
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse_url(*, https_only: bool = False, origin_only: bool = False) -> Callable[[str], str]:
    """A parser for an absolute http(s) URL, returned without a trailing slash (an origin in the
    form Twilio uses: `normalise_origin`)."""

    def parse(raw: str) -> str:
        value = raw.strip()
        parts = urlsplit(value)
        allowed = {"https"} if https_only else {"http", "https"}
        if parts.scheme.lower() not in allowed or not parts.hostname:
            raise ValueError(
                "must be an absolute " + ("https" if https_only else "http(s)") + " URL"
            )
        if origin_only and (parts.path not in {"", "/"} or parts.query or parts.fragment):
            raise ValueError("must be an origin only (scheme, host and optional port)")
        if origin_only and (parts.username or parts.password):
            raise ValueError("must not carry credentials (user:password@)")
        try:
            _ = parts.port
        except ValueError:
            raise ValueError("has an invalid port") from None
        if not _is_host(parts.hostname):
            raise ValueError("has an invalid host (a DNS name or an IP address, no spaces)")
        return normalise_origin(value) if origin_only else value.rstrip("/")

    return parse


_HOST_NAME = (
    r"(?=.{1,253}\Z)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)


def _is_host(host: str) -> bool:
    """Whether a URL's host (as `urlsplit` gives it: lower case, no brackets) is a DNS name or
    an IP address."""
    if re.fullmatch(_HOST_NAME, host.rstrip(".")):
        return True
    import ipaddress  # only for a host that is no DNS name ([::1], 10.0.0.1 passes above)

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def parse_host_name(raw: str) -> str:
    """A DNS host name such as `app.azurewebsites.net` (kept in lower case)."""
    value = raw.strip().lower().rstrip(".")
    if not re.fullmatch(_HOST_NAME, value):
        raise ValueError("must be a host name such as app.azurewebsites.net")
    return value


def parse_ncrontab(raw: str) -> str:
    """A six-field NCRONTAB expression: {second} {minute} {hour} {day} {month} {day-of-week}."""
    from croniter import croniter  # imported here: only a setting check and the timer need it

    value = " ".join(raw.split())
    if len(value.split(" ")) != 6:
        raise ValueError(
            "must be a six-field NCRONTAB expression (second minute hour day month weekday)"
        )
    if not croniter.is_valid(value, second_at_beginning=True):
        raise ValueError("is not a valid NCRONTAB expression")
    return value


def parse_iso_duration(raw: str) -> timedelta:
    """An ISO-8601 duration in days, hours, minutes, seconds (PT24H, P1D, PT90M, PT1H30M)."""
    match = re.fullmatch(_ISO_DURATION, raw.strip().upper())
    if not match:
        raise ValueError("must be an ISO-8601 duration such as PT24H or P1DT12H")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    value = timedelta(**parts)
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


def parse_iso_duration_between(low: timedelta, high: timedelta) -> Callable[[str], timedelta]:
    """A parser for an ISO-8601 duration within [low, high]."""

    def parse(raw: str) -> timedelta:
        value = parse_iso_duration(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {_iso(low)} and {_iso(high)}")
        return value

    return parse


def _iso(value: timedelta) -> str:
    if value % timedelta(days=1) == timedelta(0):
        return f"P{value.days}D"
    return f"PT{int(value.total_seconds() // 60)}M"


def parse_quiet_hours(raw: str) -> QuietHours:
    """A local-time window `HH:MM-HH:MM` (24-hour clock), which may wrap midnight."""
    match = re.fullmatch(_CLOCK_RANGE, raw.strip())
    if not match:
        raise ValueError("must be a range of 24-hour times such as 21:00-08:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if (h1, m1) == (h2, m2):
        raise ValueError("start and end must differ")
    return QuietHours(time(h1, m1), time(h2, m2))


def parse_sid(name: str) -> Callable[[str], str]:
    """A parser for a Twilio SID of the kind the setting holds."""

    def parse(raw: str) -> str:
        value = raw.strip()
        if not re.fullmatch(_SID_PATTERNS[name], value):
            prefix = _SID_PATTERNS[name][:2]
            raise ValueError(f"must be a Twilio SID: {prefix} followed by 32 hexadecimal digits")
        return value

    return parse


def parse_table_name(raw: str) -> str:
    """An Azure table name: a letter then 2-62 letters or digits."""
    value = raw.strip()
    if not re.fullmatch(_TABLE_NAME, value):
        raise ValueError("must be a table name: a letter then 2 to 62 letters or digits")
    return value


def parse_queue_name(raw: str) -> str:
    """An Azure queue name: 3-63 lowercase letters, digits and single hyphens."""
    value = raw.strip()
    if not re.fullmatch(_QUEUE_NAME, value):
        raise ValueError(
            "must be a queue name: 3 to 63 lowercase letters, digits and single hyphens"
        )
    return value


def _require_unicode(raw: str) -> None:
    # os.environ decodes a byte that is not UTF-8 as a lone surrogate (surrogateescape): such
    # text can be neither spoken nor sent, and would silently vanish from the TwiML.
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            "must be valid UTF-8 text (it holds a byte sequence that is not)"
        ) from None


def parse_text(raw: str) -> str:
    """Free text, kept as written (surrounding whitespace trimmed); valid Unicode only."""
    _require_unicode(raw)
    return raw.strip()


def parse_secret_key(raw: str) -> str:
    """A signing key: at least `MIN_INBOX_SESSION_KEY` characters, valid Unicode."""
    value = parse_text(raw)
    if len(value) < MIN_INBOX_SESSION_KEY:
        raise ValueError(f"must be at least {MIN_INBOX_SESSION_KEY} characters (random ones)")
    return value


def parse_menu(raw: str) -> "Menu":
    """The voice menu JSON (see switchboard.menu); errors name the entry."""
    from switchboard.menu import MenuError, parse_menu_json

    _require_unicode(raw)
    try:
        return parse_menu_json(raw)
    except MenuError as exc:
        detail = str(exc).removeprefix("VOICE_MENU").lstrip(".: ")
        raise ValueError(detail if detail.startswith("not valid") else f"entry {detail}") from None


#: `OUTBOUND_ALLOWED_COUNTRIES`: every country (rarely wise: see the README).
ALL_COUNTRIES = "*"


def parse_countries(raw: str) -> tuple[str, ...]:
    """ISO 3166 alpha-2 codes, comma- or space-separated (`US,CA,GB`), or `*` for all; the error
    gives the entry's position."""
    from switchboard.phone import known_regions

    entries = [e.strip().upper() for e in re.split(r"[,\s;]+", raw.strip()) if e.strip()]
    if entries == [ALL_COUNTRIES]:
        return (ALL_COUNTRIES,)
    if not entries:
        raise ValueError("must list ISO 3166 country codes such as US,CA or be *")
    regions = known_regions()
    for position, entry in enumerate(entries, start=1):
        if entry == ALL_COUNTRIES:
            raise ValueError("* allows every country: give it alone")
        if entry not in regions:
            raise ValueError(
                f"entry {position} must be an ISO 3166 alpha-2 country code such as US or GB"
            )
    return tuple(dict.fromkeys(entries))


def parse_plain_address(raw: str) -> str:
    """One e-mail address, without a display name: `owner@example.com`."""
    value = raw.strip()
    if not re.fullmatch(_MAIL_ADDRESS, value):
        raise ValueError("must be an e-mail address such as owner@example.com")
    return value


def parse_connection_string(raw: str) -> str:
    """A storage connection string: `Name=value` parts separated by `;`, naming the account or an
    endpoint (or `UseDevelopmentStorage=true`), as the storage SDK reads it. Checked here so a
    malformed one is named as this setting, not reported as storage or Twilio being down."""
    value = parse_text(raw)
    parts = [part.strip() for part in value.split(";") if part.strip()]
    names = {part.partition("=")[0].strip().lower() for part in parts}
    well_formed = bool(parts) and all(
        re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*\s*=.*", part, re.DOTALL) for part in parts
    )
    if not well_formed or not names & _CONNECTION_NAMES:
        raise ValueError(
            "must be a storage connection string: Name=value parts separated by ; "
            "(DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;"
            "EndpointSuffix=core.windows.net)"
        )
    return value


#: A connection string names at least one of these (lowercase), as the storage SDK requires.
_CONNECTION_NAMES = frozenset(
    {"accountname", "tableendpoint", "queueendpoint", "blobendpoint", "usedevelopmentstorage"}
)


def parse_account_name(raw: str) -> str:
    """An Azure Storage account name: 3-24 lowercase letters and digits."""
    value = raw.strip()
    if not re.fullmatch(_ACCOUNT_NAME, value):
        raise ValueError("must be a storage account name: 3 to 24 lowercase letters and digits")
    return value


def parse_storage_credential(raw: str) -> str:
    """`managedidentity`, the only value of `__credential` the Functions host accepts in Azure."""
    value = raw.strip().lower()
    if value != "managedidentity":
        raise ValueError("must be managedidentity (or unset for DefaultAzureCredential)")
    return value


def parse_guid(raw: str) -> str:
    """A GUID such as a managed identity's client id."""
    value = raw.strip()
    if not re.fullmatch(_GUID, value):
        raise ValueError("must be a client id (a GUID)")
    return value


def azure_marker(environ: Mapping[str, str]) -> str | None:
    """The first platform variable that says the process runs in Azure (any plan), if any."""
    found = next((n for n in AZURE_HOST_MARKERS if (environ.get(n) or "").strip()), None)
    if found is None and all(
        (environ.get(name) or "").strip() for name in LINUX_CONSUMPTION_MARKERS
    ):
        return LINUX_CONSUMPTION_MARKERS[0]
    return found


def running_in_azure(environ: Mapping[str, str]) -> bool:
    """Whether the platform's own variables say the process runs in Azure (any plan)."""
    return azure_marker(environ) is not None


def parse_server_name(raw: str) -> str:
    """A server's host name or IP address (no scheme, no port): SMTP_HOST."""
    value = raw.strip()
    if not re.fullmatch(_SERVER_NAME, value):
        raise ValueError("must be a host name or IP address, without scheme or port")
    return value


def parse_mail_address(raw: str) -> str:
    """An e-mail address, optionally with a display name: `Acme <voicemail@example.com>`."""
    from email.utils import parseaddr

    value = raw.strip()
    if "\r" in value or "\n" in value:
        raise ValueError("must be one line")
    _, address = parseaddr(value)
    if not re.fullmatch(_MAIL_ADDRESS, address):
        raise ValueError("must be an e-mail address such as voicemail@example.com")
    return value


def parse_smtp_tls(raw: str) -> str:
    """`starttls`, `implicit` or `none` (any case)."""
    value = raw.strip().lower()
    if value not in SMTP_TLS_MODES:
        raise ValueError("must be starttls, implicit or none")
    return value


def parse_instant(raw: str) -> datetime:
    """An ISO-8601 date and time with an offset (2026-12-24T10:00:00-05:00)."""
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            "must be an ISO-8601 date and time such as 2026-12-24T10:00:00-05:00"
        ) from None
    if moment.utcoffset() is None:
        raise ValueError("must have an offset (such as -05:00 or Z)")
    return moment


def parse_test_clock(raw: str) -> datetime:
    """`LINES_CLOCK`: an instant with an offset between the years 1970 and 2199 (line hours
    are evaluated around it; nothing beyond that is a date a test means)."""
    moment = parse_instant(raw)
    if not 1970 <= moment.year <= 2199:
        raise ValueError("must be a date between the years 1970 and 2199")
    return moment


def parse_present(raw: str) -> bool:
    """Any non-empty value means "set" (used for WEBSITE_INSTANCE_ID)."""
    return bool(raw.strip())


_PARSERS: dict[str, Callable[[str], Any]] = {
    "AzureWebJobsStorage": parse_connection_string,
    "AzureWebJobsStorage__accountName": parse_account_name,
    "AzureWebJobsStorage__tableServiceUri": parse_url(https_only=True),
    "AzureWebJobsStorage__queueServiceUri": parse_url(https_only=True),
    "AzureWebJobsStorage__credential": parse_storage_credential,
    "AzureWebJobsStorage__clientId": parse_guid,
    "TWILIO_ACCOUNT_SID": parse_sid("TWILIO_ACCOUNT_SID"),
    "TWILIO_AUTH_TOKEN": parse_text,
    "TWILIO_API_KEY_SID": parse_sid("TWILIO_API_KEY_SID"),
    "TWILIO_API_KEY_SECRET": parse_text,
    "TWILIO_FROM_NUMBER": parse_e164,
    "TWILIO_MESSAGING_SERVICE_SID": parse_sid("TWILIO_MESSAGING_SERVICE_SID"),
    "TWILIO_API_BASE_URL": parse_url(origin_only=True),
    "PUBLIC_BASE_URL": parse_url(origin_only=True),
    "TWILIO_VALIDATE_SIGNATURE": parse_bool,
    "WEBSITE_INSTANCE_ID": parse_present,
    "WEBSITE_SITE_NAME": parse_text,
    "WEBSITE_HOSTNAME": parse_host_name,
    "OUTBOUND_CALL_QUEUE": parse_queue_name,
    "SMS_TIMER_SCHEDULE": parse_ncrontab,
    "SMS_MAX_LATENESS": parse_iso_duration,
    "SMS_QUIET_HOURS": parse_quiet_hours,
    "SMS_SEND_CONCURRENCY": parse_int_range(1, 256),
    "SMS_MAX_PER_SECOND": parse_positive_float,
    "TABLE_CALL_LOG": parse_table_name,
    "TABLE_MESSAGE_LOG": parse_table_name,
    "TABLE_SMS_SCHEDULE": parse_table_name,
    "TABLE_OPT_OUT": parse_table_name,
    "TABLE_LINES": parse_table_name,
    "TABLE_CONTACTS": parse_table_name,
    "TABLE_INBOX_USERS": parse_table_name,
    "TABLE_CONVERSATIONS": parse_table_name,
    "TABLE_CALL_QUEUE": parse_table_name,
    "LINES_CACHE_SECONDS": parse_int_range(0, 3600),
    "LINES_CLOCK": parse_test_clock,
    "QUEUE_CALLBACK_MAX_AGE": parse_iso_duration_between(timedelta(minutes=5), timedelta(days=30)),
    "VOICE_GREETING": parse_text,
    "VOICE_TTS_VOICE": parse_text,
    "VOICE_LANGUAGE": parse_text,
    "VOICE_MENU": parse_menu,
    "VOICE_FORWARD_TO": parse_e164,
    "VOICE_RING_TIMEOUT": parse_int_range(5, 600),
    "VOICE_VOICEMAIL": parse_bool,
    "VOICE_VOICEMAIL_MAX_LENGTH": parse_int_range(1, 14400),
    "VOICE_TRANSCRIBE": parse_bool,
    "VOICE_BLOCKED_CALLERS": parse_e164_list,
    "VOICE_ALLOWED_CALLERS": parse_e164_list,
    "SMS_AUTO_REPLY": parse_text,
    "SMS_HELP_TEXT": parse_text,
    "OWNER_NUMBER": parse_e164,
    "SMTP_HOST": parse_server_name,
    "SMTP_PORT": parse_int_range(1, 65535),
    "SMTP_USERNAME": parse_text,
    "SMTP_PASSWORD": parse_text,
    "SMTP_FROM": parse_mail_address,
    "SMTP_TLS": parse_smtp_tls,
    "INBOX_SESSION_KEY": parse_secret_key,
    "INBOX_SESSION_HOURS": parse_int_range(1, 720),
    "INBOX_APP_SERVICE_AUTH": parse_bool,
    "WEBSITE_AUTH_ENABLED": parse_bool,
    "FALLBACK_CONTAINER_URL": parse_url(),
    "SMS_AUTO_REPLY_WINDOW": parse_iso_duration_between(timedelta(minutes=1), timedelta(days=30)),
    "SMS_FORWARD_DAILY_CAP": parse_int_range(1, 1000),
    "OUTBOUND_ALLOWED_COUNTRIES": parse_countries,
    "AUTOMATIC_SMS_DAILY_LIMIT": parse_int_range(1, 100_000),
    # The burst window keeps the time of each of its texts on the line's budget row.
    "AUTOMATIC_SMS_BURST_LIMIT": parse_int_range(1, 500),
    "VOICEMAIL_EMAIL_DAILY_LIMIT": parse_int_range(1, 10_000),
    "SMS_RELAY_DAILY_LIMIT": parse_int_range(1, 100_000),
    "OWNER_EMAIL": parse_plain_address,
}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Parse and validate every setting from `environ` (default: os.environ).

    Empty values count as unset. Raises SettingsError listing every problem at once.
    """
    source = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    problems: list[SettingProblem] = []
    for f in dataclasses.fields(Settings):
        name = str(f.metadata["setting"])
        raw = source.get(name)
        if raw is None or not raw.strip():
            continue
        try:
            values[f.name] = _PARSERS[name](raw)
        except ValueError as exc:
            problems.append(SettingProblem(name, str(exc)))
        except OverflowError:  # a number or a duration past what Python's types hold
            problems.append(SettingProblem(name, "is out of range"))
    values["running_in_azure"] = running_in_azure(source)
    problems += _storage_identity(values)
    if bool(values.get("twilio_api_key_sid")) != bool(values.get("twilio_api_key_secret")):
        missing = (
            "TWILIO_API_KEY_SECRET" if values.get("twilio_api_key_sid") else "TWILIO_API_KEY_SID"
        )
        problems.append(SettingProblem(missing, "must be set together with its pair"))
    # Twilio calls the app over https in production; http is for a laptop or a tunnel's origin.
    if values.get("running_in_azure") and str(values.get("public_base_url", "")).startswith(
        "http://"
    ):
        problems.append(SettingProblem("PUBLIC_BASE_URL", "must be an https origin in Azure"))
    problems += _smtp_problems(values)
    problems += _careless(values)
    if problems:
        raise SettingsError(problems)
    return Settings(**values)


def _smtp_problems(values: dict[str, Any]) -> list[SettingProblem]:
    """The SMTP settings that only make sense together."""
    problems: list[SettingProblem] = []
    if bool(values.get("smtp_username")) != bool(values.get("smtp_password")):
        missing = "SMTP_PASSWORD" if values.get("smtp_username") else "SMTP_USERNAME"
        problems.append(SettingProblem(missing, "must be set together with its pair"))
    host = values.get("smtp_host")
    # A password over a plain connection crosses the network readable: in Azure only a relay on
    # the instance itself (loopback) may go without TLS.
    if (
        values.get("smtp_tls") == "none"
        and values.get("running_in_azure")
        and host
        and not is_loopback_host(str(host))
    ):
        problems.append(
            SettingProblem("SMTP_TLS", "none is allowed in Azure only for a server on localhost")
        )
    return problems


def plain_http_elsewhere(url: str | None) -> bool:
    """Whether `url` is plain http to a host other than this machine (secrets in clear text)."""
    parts = urlsplit(url or "")
    return parts.scheme == "http" and not is_loopback_host(parts.hostname)


OWN_NUMBER_LOOP = "is TWILIO_FROM_NUMBER, the app's own number: forwarding there would loop"


def _careless(values: dict[str, Any]) -> list[SettingProblem]:
    """Settings that are well-formed yet leak a secret or invite a loop (refused like malformed
    ones: a careless value must not wait for the first call to show)."""
    problems: list[SettingProblem] = []
    if values.get("running_in_azure") and plain_http_elsewhere(values.get("twilio_api_base_url")):
        # REST calls carry the auth token (basic auth): only a local stand-in may be plain http.
        problems.append(
            SettingProblem(
                "TWILIO_API_BASE_URL",
                "must be https in Azure (the auth token would travel in clear text); plain "
                "http is allowed only to a loopback address",
            )
        )
    problems += _outside_allowed_countries(values)
    if values.get("running_in_azure") and values.get("inbox_session_key") == (
        SAMPLE_INBOX_SESSION_KEY
    ):
        problems.append(
            SettingProblem(
                "INBOX_SESSION_KEY",
                "is the sample's key: set a random one (a Key Vault reference) in Azure",
            )
        )
    own = values.get("twilio_from_number")
    if own:
        for attribute in ("owner_number", "voice_forward_to"):
            if values.get(attribute) == own:
                problems.append(SettingProblem(setting_name(attribute), OWN_NUMBER_LOOP))
        menu: Menu | None = values.get("voice_menu")
        for option in menu.options if menu else ():
            if option.action == "forward" and option.to == own:
                problems.append(
                    SettingProblem(
                        "VOICE_MENU", f"entry options.{option.key}.to: {OWN_NUMBER_LOOP}"
                    )
                )
    menu = values.get("voice_menu")
    redirects = [o for o in (menu.options if menu else ()) if o.action == "redirect" and o.url]
    # The app's own origins only when a redirect needs them (most settings have none).
    origins = (
        _origins(
            values.get("public_base_url"), values.get("website_hostname"), values.get("site_name")
        )
        if redirects
        else frozenset()
    )
    for option in redirects:
        if option.url and leads_back(option.url, origins):
            problems.append(
                SettingProblem(
                    "VOICE_MENU",
                    f"entry options.{option.key}.url: leads back into this app's own webhooks "
                    "(the call would start over and over)",
                )
            )
    return problems


def _outside_allowed_countries(values: dict[str, Any]) -> list[SettingProblem]:
    """Numbers the settings send texts or calls to, in a country OUTBOUND_ALLOWED_COUNTRIES
    leaves out (checked when the list is explicit; its default, the account's countries, is
    known only at run time: `GET /api/health` checks it there)."""
    allowed = values.get("outbound_allowed_countries")
    if not allowed or allowed == (ALL_COUNTRIES,):
        return []
    from switchboard.phone import region_of

    problems: list[SettingProblem] = []
    menu: Menu | None = values.get("voice_menu")
    named = [
        (setting_name(attribute), values.get(attribute))
        for attribute in ("owner_number", "voice_forward_to")
    ] + [
        (f"VOICE_MENU: entry options.{option.key}.to", option.to)
        for option in (menu.options if menu else ())
        if option.action == "forward"
    ]
    for name, number in named:
        if number and region_of(number) not in allowed:
            problems.append(
                SettingProblem(
                    name.split(":")[0],
                    (name.split(": ", 1)[1] + ": " if ": " in name else "")
                    + "is in a country OUTBOUND_ALLOWED_COUNTRIES does not allow",
                )
            )
    return problems


def _origins(
    public_base_url: str | None,
    website_hostname: str | None,
    site_name: str | None,
    extra: tuple[str | None, ...] = (),
) -> frozenset[str]:
    found = {public_base_url, *extra}
    if website_hostname:
        found.add(f"https://{website_hostname}")
    site = (site_name or "").strip().lower()
    if site and re.fullmatch(_HOST_NAME, site):
        found.add(f"https://{site}.azurewebsites.net")
    origins = set()
    for origin in filter(None, found):
        try:
            normalised = normalise_origin(origin)
        except ValueError:  # a malformed extra origin names nothing
            continue
        if urlsplit(normalised).hostname:
            origins.add(normalised)
    return frozenset(origins)


def app_origins(settings: Settings, extra: tuple[str | None, ...] = ()) -> frozenset[str]:
    """The origins this app answers on, as far as the settings say (`PUBLIC_BASE_URL`,
    `https://$WEBSITE_HOSTNAME`, `https://$WEBSITE_SITE_NAME.azurewebsites.net`) and `extra`
    (the origin a request arrived on), normalised: a redirect to any of them leads back."""
    return _origins(settings.public_base_url, settings.website_hostname, settings.site_name, extra)


def forwarding_numbers(settings: Settings) -> list[tuple[str, str]]:
    """(setting, number) for every number the app forwards texts or calls to: OWNER_NUMBER,
    VOICE_FORWARD_TO and each forward of VOICE_MENU (`GET /api/health` compares them with the
    account's own numbers)."""
    found = [
        (name, number)
        for name, number in (
            ("OWNER_NUMBER", settings.owner_number),
            ("VOICE_FORWARD_TO", settings.voice_forward_to),
        )
        if number
    ]
    for option in settings.voice_menu.options if settings.voice_menu else ():
        if option.action == "forward" and option.to:
            found.append((f"VOICE_MENU: entry options.{option.key}.to", option.to))
    return found


def callback_origin(settings: Settings) -> str | None:
    """The trusted origin of the URLs the app gives Twilio (status callbacks, webhooks it
    reports): `PUBLIC_BASE_URL`; else, in Azure, `https://$WEBSITE_HOSTNAME` (the site's default
    host name, set by the platform), else `https://$WEBSITE_SITE_NAME.azurewebsites.net` (the
    Functions host's own fallback); else None. Never a request header: anyone can send one, and
    Twilio would then send its callbacks (and their signatures) where the sender chose."""
    if settings.public_base_url:
        return settings.public_base_url
    if not settings.running_in_azure:
        return None
    if settings.website_hostname:
        return f"https://{settings.website_hostname}"
    site = (settings.site_name or "").strip().lower()
    if site and re.fullmatch(_HOST_NAME, site):
        return f"https://{site}.azurewebsites.net"
    return None


def _storage_identity(values: dict[str, Any]) -> list[SettingProblem]:
    """Without a connection string, `AzureWebJobsStorage__*` name the account (as for the host)."""
    if values.get("azure_web_jobs_storage") or not any(values.get(a) for a in _IDENTITY_ENDPOINTS):
        return []
    values["azure_web_jobs_storage"] = ""  # no connection string: the identity-based form
    if values.get("storage_account_name"):
        return []
    return [
        SettingProblem(
            setting_name(attribute),
            "is required with the other service URI unless AzureWebJobsStorage__accountName is set",
        )
        for attribute in ("storage_table_service_uri", "storage_queue_service_uri")
        if not values.get(attribute)
    ]


#: Set by the platform, read by the app: never "missing" (locally they are simply absent).
PLATFORM_SETTINGS = frozenset({"WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME", "WEBSITE_HOSTNAME"})
#: Needed for the app to do its work. Storage and the sender each have two forms; every other
#: setting is optional (its default applies, or the feature it enables is off).
NEEDED_SETTINGS = (
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "OUTBOUND_CALL_QUEUE",  # the host resolves %OUTBOUND_CALL_QUEUE% itself: no default
    "SMS_TIMER_SCHEDULE",  # the same for %SMS_TIMER_SCHEDULE%
)
_EITHER = (
    ("AzureWebJobsStorage", "AzureWebJobsStorage__accountName"),
    ("TWILIO_FROM_NUMBER", "TWILIO_MESSAGING_SERVICE_SID"),
)


def setting_states(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each setting as `present`, `missing` (needed and not set) or `optional` (not set, its
    default applies); platform variables are left out. Never values."""
    set_now = presence(environ)
    states: dict[str, str] = {}
    for name, present in set_now.items():
        if name in PLATFORM_SETTINGS:
            continue
        states[name] = "present" if present else "optional"
    for name in NEEDED_SETTINGS:
        if not set_now.get(name):
            states[name] = "missing"
    for first, second in _EITHER:
        if not set_now.get(first) and not set_now.get(second):
            states[first] = "missing"
    identity = ("AzureWebJobsStorage__tableServiceUri", "AzureWebJobsStorage__queueServiceUri")
    if all(set_now.get(n) for n in identity):
        states.pop("AzureWebJobsStorage", None)
        states["AzureWebJobsStorage"] = "optional"
    return states


def presence(environ: Mapping[str, str] | None = None) -> dict[str, bool]:
    """Which settings are set (True) or not (False): never their values."""
    source = os.environ if environ is None else environ
    return {name: bool((source.get(name) or "").strip()) for name in setting_names()}


_cache_lock = threading.Lock()
_cached: Settings | SettingsError | None = None


def get_settings() -> Settings:
    """The process's settings, loaded once; a failure is logged once and raised every time."""
    global _cached
    with _cache_lock:
        if _cached is None:
            try:
                _cached = load_settings()
                if not _cached.running_in_azure and plain_http_elsewhere(
                    _cached.twilio_api_base_url
                ):
                    logger.warning(
                        "TWILIO_API_BASE_URL is plain http to another machine: the auth token "
                        "travels in clear text (refused in Azure; use https)"
                    )
                if not _cached.twilio_validate_signature:
                    if _cached.running_in_azure:
                        logger.warning(
                            "TWILIO_VALIDATE_SIGNATURE=false is ignored in Azure (%s is set): "
                            "webhook signatures are still validated",
                            azure_marker(os.environ),
                        )
                    else:
                        logger.warning(
                            "TWILIO_VALIDATE_SIGNATURE=false: webhook signatures are NOT "
                            "validated (allowed outside Azure only; never do this in production)"
                        )
                if _cached.lines_clock is not None:
                    if _cached.running_in_azure:
                        logger.warning(
                            "LINES_CLOCK is ignored in Azure (%s is set): line hours follow "
                            "the real clock",
                            azure_marker(os.environ),
                        )
                    else:
                        logger.warning(
                            "LINES_CLOCK is set: line hours are evaluated at a test clock "
                            "(outside Azure only)"
                        )
            except SettingsError as exc:
                logger.error("Switchboard settings are invalid: %s", exc)
                _cached = exc
        cached = _cached
    if isinstance(cached, SettingsError):
        raise cached
    return cached


def reset_settings_cache() -> None:
    """Forget the cached settings (tests and the devkit host after changing the environment)."""
    global _cached
    with _cache_lock:
        _cached = None


def replace(settings: Settings, **changes: Any) -> Settings:
    """A copy of `settings` with some attributes changed (tests)."""
    return dataclasses.replace(settings, **changes)
