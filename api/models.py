"""Request and response models of the REST API: the one source of truth for validation and
for the OpenAPI document.

Request models forbid unknown fields, so a typo is a 422 naming the field, not a silent no-op.
Secret fields are write-only: they are in the request models and never in the responses.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    SerializerFunctionWrapHandler,
    ValidationError,
    create_model,
    model_serializer,
    model_validator,
)

from api.fields import INTEGRAL, field_problems
from api.rules import MAX_RULES, Rule, validate_rules
from schemas.auth import (
    API_KEY_PLACES,
    DEFAULT_API_KEY_HEADER,
    DEFAULT_HMAC_ALGORITHM,
    DEFAULT_HMAC_ENCODING,
    DEFAULT_HMAC_HEADER,
    DEFAULT_TOLERANCE_S,
    DESTINATION_AUTH_TYPES,
    HMAC_ALGORITHMS,
    HMAC_ENCODINGS,
    SOURCE_AUTH_TYPES,
    whsec_key,
)

Name = Annotated[str, Field(min_length=1, max_length=155, pattern=r"^[A-Za-z0-9 _\-.:/()]+$")]
Description = Annotated[str | None, Field(default=None, max_length=500)]
Secret = Annotated[str, Field(min_length=1, max_length=1000)]
TOKEN_CHARS = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"  # RFC 9110 token: what a header name may be
HeaderName = Annotated[str, Field(min_length=1, max_length=200, pattern=TOKEN_CHARS)]
# HTTP's own methods and the WebDAV/cache ones providers use; a typo is still an error.
Method = Literal[
    "GET",
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "HEAD",
    "OPTIONS",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "REPORT",
    "SEARCH",
    "PURGE",
]
Status = Literal["enabled", "disabled"]
# Every write of an entity makes the next version; a write may carry the version it saw
# (If-Match) and is refused (409) when another write came first.
Version = Annotated[
    int,
    Field(
        ge=1,
        description=(
            "Moves up by one with every write; send it back as If-Match to update only that version"
        ),
    ),
]


def id_pattern(prefix: str) -> str:
    """What an id minted with `prefix` looks like (`src_01J…`)."""
    return rf"^{prefix}_[0-9A-Za-z_]+$"


def id_path(prefix: str) -> type[BaseModel]:
    """The path parameters of a route addressing one entity: `{id}`, an id of its kind (any
    other id is unknown: 404)."""
    return create_model(
        f"{prefix.capitalize()}Path",
        id=(Annotated[str, Field(pattern=id_pattern(prefix), max_length=100)], ...),
    )


class Strict(BaseModel):
    # strict: JSON's true is not 1 nor "yes" a boolean; JSON Schema says the same (INTEGRAL:
    # 5.0 is an integer).
    model_config = ConfigDict(extra="forbid", strict=True)

    def problems(self) -> list[tuple[str, str]]:
        """Checks past the field types (auth shapes, rules); may normalise what it checks."""
        return []


# --- sources -----------------------------------------------------------------------------


class BasicAuth(Strict):
    username: Annotated[str, Field(min_length=1, max_length=200)]
    password: Secret


class ApiKeyAuth(Strict):
    header_key: HeaderName
    api_key: Secret


class HmacAuth(Strict):
    webhook_secret_key: Secret
    algorithm: Literal[HMAC_ALGORITHMS] = DEFAULT_HMAC_ALGORITHM  # type: ignore[valid-type]
    encoding: Literal[HMAC_ENCODINGS] = DEFAULT_HMAC_ENCODING  # type: ignore[valid-type]
    header_key: HeaderName = DEFAULT_HMAC_HEADER
    timestamp_header: HeaderName | None = None
    prefix: Annotated[str | None, Field(default=None, max_length=50)] = None
    tolerance_seconds: Annotated[int, Field(ge=1, le=86_400), INTEGRAL] | None = None


class TwilioAuth(Strict):
    auth_token: Secret


# Provider presets: each provider's own scheme, so only the secret (and a replay window where the
# scheme signs a timestamp) is configured.
ToleranceSeconds = Annotated[
    int,
    Field(
        ge=1,
        le=86_400,
        description="Signed timestamps older (or, but for Stripe, "
        "newer) than this are refused as replays",
    ),
    INTEGRAL,
]


def _standard_webhooks_secret(secret: str) -> str:
    whsec_key(secret)  # the ingress verifies with this key: refuse what it could not read
    return secret


class StripeAuth(Strict):
    webhook_secret_key: Secret
    tolerance_s: ToleranceSeconds = DEFAULT_TOLERANCE_S


class SignedBodyAuth(Strict):
    """GITHUB and SHOPIFY: an HMAC-SHA256 of the body, no timestamp."""

    webhook_secret_key: Secret


class SlackAuth(Strict):
    signing_secret: Secret
    tolerance_s: ToleranceSeconds = DEFAULT_TOLERANCE_S


class StandardWebhooksAuth(Strict):
    webhook_secret_key: Annotated[
        Secret,
        Field(pattern=r"^(whsec_)?[A-Za-z0-9+/]+={0,2}$"),
        AfterValidator(_standard_webhooks_secret),
    ]
    tolerance_s: ToleranceSeconds = DEFAULT_TOLERANCE_S


SOURCE_AUTH: dict[str, type[Strict]] = {
    "BASIC_AUTH": BasicAuth,
    "API_KEY": ApiKeyAuth,
    "HMAC": HmacAuth,
    "TWILIO": TwilioAuth,
    "STRIPE": StripeAuth,
    "GITHUB": SignedBodyAuth,
    "SHOPIFY": SignedBodyAuth,
    "SLACK": SlackAuth,
    "STANDARD_WEBHOOKS": StandardWebhooksAuth,
}
SECRET_FIELDS = frozenset(
    {"password", "api_key", "webhook_secret_key", "auth_token", "token", "signing_secret"}
)


Problems = list[tuple[str, str]]


def checked_auth(
    auth_type: str | None, auth: dict[str, Any] | None, kinds: dict[str, type[Strict]], path: str
) -> tuple[Any, Problems]:
    """`auth` in the shape its `auth_type` names, with defaults filled in; or the problems,
    with paths into `auth` (the two fields are siblings, so pydantic alone can't say which
    model applies)."""
    if auth_type is None or auth_type not in kinds:
        if auth:
            return auth, [(path, f"must be null or {{}} for auth_type {auth_type}")]
        return (None if auth_type is None else {}), []
    try:
        return kinds[auth_type].model_validate(auth or {}).model_dump(exclude_none=True), []
    except ValidationError as exc:
        # error_path: a key like "" or "a b" is named `config.auth[""]`, as everywhere else.
        return auth, field_problems(exc.errors(), *path.split("."))


class CustomResponse(Strict):
    content_type: Literal["json", "text", "xml"]
    body: Annotated[str, Field(max_length=1000)]


class SourceConfig(Strict):
    auth_type: Literal[SOURCE_AUTH_TYPES] | None = Field(  # type: ignore[valid-type]
        default=None,
        description="Which scheme verifies the source's requests; null accepts any request",
    )
    auth: dict[str, Any] | None = Field(
        default=None,
        description="BASIC_AUTH {username, password} | API_KEY {header_key, api_key} | HMAC "
        "{webhook_secret_key, algorithm, encoding, header_key, timestamp_header?, prefix?} | "
        "TWILIO {auth_token} | STRIPE {webhook_secret_key, tolerance_s=300} (Stripe-Signature) | "
        "GITHUB {webhook_secret_key} (X-Hub-Signature-256) | SHOPIFY {webhook_secret_key} "
        "(X-Shopify-Hmac-Sha256) | SLACK {signing_secret, tolerance_s=300} (X-Slack-Signature) "
        "| STANDARD_WEBHOOKS {webhook_secret_key: whsec_ + base64, tolerance_s=300} "
        "(webhook-signature). Secrets are write-only.",
    )
    allowed_http_methods: Annotated[list[Method], Field(min_length=1, max_length=17)] = [
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
    ]
    custom_response: CustomResponse | None = None

    @model_validator(mode="after")
    def _unique_methods(self) -> SourceConfig:
        self.allowed_http_methods = list(dict.fromkeys(self.allowed_http_methods))
        return self


class SourceIn(Strict):
    name: Name
    description: Description = None
    type: Literal["WEBHOOK"] = "WEBHOOK"
    status: Status = "enabled"
    config: SourceConfig = Field(default_factory=SourceConfig)

    def problems(self) -> list[tuple[str, str]]:
        auth, found = checked_auth(
            self.config.auth_type, self.config.auth, SOURCE_AUTH, "config.auth"
        )
        self.config.auth = auth
        return found


class SourceOut(BaseModel):
    id: str
    team_id: str
    name: str
    description: str | None
    type: Literal["WEBHOOK"]
    status: Status
    url: str = Field(description="The public URL to give the provider; any sub-path works too")
    config: dict[str, Any] = Field(description="As written, without secrets (write-only)")
    disabled_at: str | None
    created_at: str
    updated_at: str
    version: Version


# --- destinations ------------------------------------------------------------------------


class BearerAuth(Strict):
    token: Secret


class DestinationApiKeyAuth(Strict):
    header_key: HeaderName = DEFAULT_API_KEY_HEADER
    api_key: Secret
    to: Literal[API_KEY_PLACES] = API_KEY_PLACES[0]  # type: ignore[valid-type]


DESTINATION_AUTH: dict[str, type[Strict]] = {
    "BASIC_AUTH": BasicAuth,
    "API_KEY": DestinationApiKeyAuth,
    "BEARER_TOKEN": BearerAuth,
}


# A CLI destination's path: where on the local server events go (before the request's own path).
CliPath = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^/[^\s?#]*$")]
# A CLI destination is reached through the API's relay; a credential of the destination's own
# would mean nothing to a local server, so only our signatures apply.
CLI_AUTH_TYPES = (None, "FASTHOOK_SIGNATURE", "STANDARD_WEBHOOKS")


class DestinationConfig(Strict):
    url: HttpUrl | None = Field(
        default=None, description="Required for HTTP destinations; none for CLI ones"
    )
    path: CliPath | None = Field(
        default=None,
        description="CLI destinations only: the path on "
        "the local server, before the request's own path",
    )
    http_method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] | None = None
    auth_type: Literal[DESTINATION_AUTH_TYPES] | None = None  # type: ignore[valid-type]
    auth: dict[str, Any] | None = Field(
        default=None,
        description="FASTHOOK_SIGNATURE {} | STANDARD_WEBHOOKS {} | BASIC_AUTH {username, "
        "password} | API_KEY {header_key, api_key, to: header|query} | BEARER_TOKEN {token}. "
        "Secrets are write-only.",
    )
    rate_limit: Annotated[int, Field(ge=1, le=100_000), INTEGRAL] | None = None
    rate_limit_period: Literal["second", "minute", "hour", "concurrent"] | None = None
    path_forwarding: bool = False
    timeout_ms: Annotated[int, Field(ge=100, le=60_000), INTEGRAL] = 30_000

    @model_serializer(mode="wrap")
    def _typed_fields(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # An HTTP destination has no path and a CLI one no URL: neither shows as null.
        dumped: dict[str, Any] = handler(self)
        for name in ("url", "path"):
            if dumped.get(name, "") is None:
                del dumped[name]
        return dumped

    @model_validator(mode="after")
    def _consistent(self) -> DestinationConfig:
        if (self.rate_limit is None) != (self.rate_limit_period is None):
            raise ValueError("rate_limit and rate_limit_period go together")
        return self


def _destination_types(schema: dict[str, Any]) -> None:
    """The document says what `destination_type_problems` checks: an HTTP destination (the
    default type) has a URL and no path; a CLI one no URL and only our signature schemes."""
    schema["oneOf"] = [
        {
            "required": ["config"],
            "properties": {
                "type": {"const": "HTTP"},
                "config": {
                    "required": ["url"],
                    "properties": {"url": {"type": "string"}, "path": {"type": "null"}},
                },
            },
        },
        {
            "required": ["type"],
            "properties": {
                "type": {"const": "CLI"},
                "config": {
                    "properties": {
                        "url": {"type": "null"},
                        "auth_type": {"enum": list(CLI_AUTH_TYPES)},
                    }
                },
            },
        },
    ]


class DestinationIn(Strict):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_destination_types)

    name: Name
    description: Description = None
    type: Literal["HTTP", "CLI"] = Field(
        default="HTTP",
        description="HTTP: delivered to config.url; CLI: to a connected `fasthook listen`",
    )
    status: Status = "enabled"
    config: DestinationConfig = Field(default_factory=DestinationConfig)

    def problems(self) -> list[tuple[str, str]]:
        auth, found = checked_auth(
            self.config.auth_type, self.config.auth, DESTINATION_AUTH, "config.auth"
        )
        self.config.auth = auth
        return found + destination_type_problems(self.type, self.config)


def destination_type_problems(kind: str, config: DestinationConfig) -> Problems:
    """What the destination's type requires of its config: HTTP a URL, CLI none."""
    if kind == "HTTP":
        found = [] if config.url is not None else [("config.url", "Field required")]
        if config.path is not None:
            found.append(("config.path", "only CLI destinations have a path"))
        return found
    found = []
    if config.url is not None:
        found.append(
            (
                "config.url",
                "a CLI destination has no URL: events go to the connected `fasthook listen`",
            )
        )
    if config.auth_type not in CLI_AUTH_TYPES:
        found.append(
            (
                "config.auth_type",
                "a CLI destination takes FASTHOOK_SIGNATURE, STANDARD_WEBHOOKS or null",
            )
        )
    return found


class DestinationOut(BaseModel):
    id: str
    team_id: str
    name: str
    description: str | None
    type: Literal["HTTP", "CLI"]
    status: Status
    config: dict[str, Any] = Field(description="As written, without secrets (write-only)")
    disabled_at: str | None
    created_at: str
    updated_at: str
    version: Version


# --- connections -------------------------------------------------------------------------


class ConnectionIn(Strict):
    name: Name
    description: Description = None
    source_id: Annotated[str, Field(pattern=id_pattern("src"))]
    destination_id: Annotated[str, Field(pattern=id_pattern("des"))]
    status: Status = "enabled"
    rules: Annotated[list[Rule], Field(max_length=MAX_RULES)] = Field(default_factory=list)

    def problems(self) -> list[tuple[str, str]]:
        return validate_rules(self.rules)


class ConnectionOut(BaseModel):
    id: str
    team_id: str
    name: str
    description: str | None
    source_id: str
    destination_id: str
    status: Literal["enabled", "disabled", "paused"]
    rules: list[dict[str, Any]]
    paused_at: str | None
    disabled_at: str | None
    created_at: str
    updated_at: str
    version: Version


# --- team, keys, lists, problems --------------------------------------------------------


class SigningSecret(BaseModel):
    current: str
    previous: str | None = Field(description="Still valid until previous_valid_until")
    previous_valid_until: str | None
    rotated_at: str | None


class TeamOut(BaseModel):
    id: str
    name: str
    signing_secret: SigningSecret
    created_at: str


class TeamSummary(BaseModel):
    id: str
    name: str
    created_at: str


class TeamList(BaseModel):
    models: list[TeamSummary]
    count: int


class Pagination(BaseModel):
    limit: int
    next: str | None
    prev: str | None


class ErrorItem(BaseModel):
    path: str
    message: str


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[ErrorItem] = Field(default_factory=list)


def list_model(item: type[BaseModel]) -> type[BaseModel]:
    return create_model(
        f"{item.__name__.removesuffix('Out')}List",
        models=(list[item], ...),  # type: ignore[valid-type]
        pagination=(Pagination, ...),
        count=(int, ...),
    )
