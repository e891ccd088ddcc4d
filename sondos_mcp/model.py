"""The update contract: one pydantic model, the single source of truth.

Every documented field of `PUT /user/assistant/{id}` lives here with its type, bounds,
enum and length. The tool's input schema is generated from these classes
(`sondos_mcp.schema`), so the advertised schema and the validator that runs are one thing.

Conventions, each chosen so that the schema and the validator agree on every input:
- strict types: "1.1" is not a number, 1 is not true, true is not 1;
- a field is optional but not nullable, unless the docs give null a meaning
  (`phone_number_id` unassigns, `webhook_url` removes): such fields default to None
  without being validated, so an explicit null is refused (`Omittable`);
- an integer field accepts 20.0 as 20, because JSON Schema counts 20.0 as an integer;
- unknown fields are refused.

The one cross-field rule JSON Schema would need `not`/`if` for (an active webhook needs a
URL) lives in `sondos_mcp.checking`, with the other checks beyond the schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

CallsDirection = Literal["receive", "make"]
EngineType = Literal["pipeline", "multimodal"]
EndpointType = Literal["vad", "ai"]
WhoSpeaksFirst = Literal["AI assistant", "Customer"]
PostCallType = Literal["string", "number", "bool"]

POST_CALL_NAME_PATTERN = r"^[A-Za-z0-9_]+$"
# The API's Laravel `url` rule wants a scheme and a host; JSON Schema's `format: uri` is only an
# annotation for most validators, so the rule is carried by a pattern that every validator enforces.
WEBHOOK_URL_PATTERN = r"^https?://[^\s/?#]+\S*$"


def _integral_float(value: Any) -> Any:
    # JSON Schema treats 20.0 as an integer; accept it as 20 so both verdicts agree.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Integer = Annotated[int, BeforeValidator(_integral_float)]

if TYPE_CHECKING:
    _T = TypeVar("_T")
    Omittable: TypeAlias = _T | None
else:

    class Omittable:
        """`x: Omittable[T] = Field(None)`: an optional argument that is not nullable.

        Omitted, it is None (defaults are not validated), so type checkers see `T | None`; given,
        it is validated as `T`, because pydantic sees exactly `T`: an explicit null is refused and
        the schema has no `null`. (`T | None` would accept null and advertise it, and put
        constraints such as `ge` on an `Integer` into the schema under pydantic's own names.)
        """

        def __class_getitem__(cls, item: Any) -> Any:
            return item


# Assistant ids are Laravel `id()` keys (BIGINT) read by PHP, whose integers are signed 64-bit:
# nothing above PHP_INT_MAX can name a row, and a larger number would reach the API as a float.
MAX_ID = 2**63 - 1


def _field(description: str | None, **constraints: Any) -> Any:
    """An optional, non-nullable field: omitted means untouched, null is refused.

    A description is given only where it says more than the field's name: every property
    costs tokens in every conversation that lists the tool.
    """
    return Field(None, description=description, **constraints)


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class PostCallField(_Strict):
    """One field the post-call analysis extracts."""

    # Field names say it all here; the schema carries no descriptions to save tokens.
    name: str = Field(pattern=POST_CALL_NAME_PATTERN)
    type: PostCallType
    description: str


class EndCallTool(_Strict):
    """Settings of the tool the assistant uses to hang up."""

    description: str = _field("When to hang up", max_length=500)


class AssistantUpdate(_Strict):
    """The request body of `PUT /user/assistant/{id}`; every field optional."""

    assistant_name: str = _field(None, min_length=1, max_length=255)
    voice_id: Integer = _field("See list_voices")
    language: str = _field("Language name, e.g. Arabic", max_length=100)
    llm_model: str = _field("Model name", max_length=100)
    calls_direction: CallsDirection = _field("receive=inbound, make=outbound")
    engine_type: EngineType = _field(None)
    timezone: str = _field("IANA, e.g. Asia/Riyadh")
    initial_message: str = _field("First line spoken")
    system_prompt: str = _field(None)
    phone_number_id: Integer | None = Field(None, description="null unassigns")
    endpoint_type: EndpointType = _field("End-of-turn detection")
    endpoint_sensitivity: float = _field(None, ge=0, le=5)
    interrupt_sensitivity: float = _field(None, ge=0, le=5)
    ambient_sound_volume: float = _field(None, ge=0, le=1)
    post_call_evaluation: bool = _field(None)
    send_webhook_only_on_completed: bool = _field(None)
    include_recording_in_webhook: bool = _field(None)
    is_webhook_active: bool = _field("Needs webhook_url")
    webhook_url: str | None = Field(None, description="null removes", pattern=WEBHOOK_URL_PATTERN)
    use_min_interrupt_words: bool = _field(None)
    min_interrupt_words: Integer = _field("Words before interrupting", ge=0, le=10)
    variables: dict[str, Any] = _field(None)
    post_call_schema: list[PostCallField] = _field("Extracted after each call")
    end_call_tool: EndCallTool = _field(None)
    llm_temperature: float = _field(None, ge=0, le=1)
    voice_stability: float = _field(None, ge=0, le=1)
    voice_similarity: float = _field(None, ge=0, le=1)
    speech_speed: float = _field("Multiplier", ge=0.7, le=1.2)
    allow_interruptions: bool = _field(None)
    filler_audios: bool = _field("Filler sounds while thinking")
    re_engagement_interval: Integer = _field("Seconds", ge=7, le=600)
    max_call_duration: Integer = _field("Seconds", ge=20, le=1200)
    max_silence_duration: Integer = _field("Seconds", ge=1, le=120)
    end_call_on_voicemail: bool = _field(None)
    noise_cancellation: bool = _field(None)
    record_call: bool = _field(None)
    who_speaks_first: WhoSpeaksFirst = _field(None)


WEBHOOK_CONFLICT = "is_webhook_active true needs a webhook_url, not null"

UPDATE_FIELDS: tuple[str, ...] = tuple(AssistantUpdate.model_fields)
# The tool's own arguments: the assistant (a path parameter) and flags; never part of a request body.
TOOL_ONLY: tuple[str, ...] = ("id", "dry_run", "force")


class UpdateAssistantArgs(AssistantUpdate):
    """What the `update_assistant` tool takes: the assistant's id plus the body fields."""

    # Stated for JSON Schema validators too: something besides `id` must be given. The webhook
    # rule (active needs a URL) is checked in `checking`, beyond the schema, because the
    # `not`/`if` keywords it would take are refused by several LLM clients' schema dialects.
    model_config = ConfigDict(json_schema_extra={"minProperties": 2})

    id: Integer = Field(description="Assistant id", ge=1, le=MAX_ID)
    dry_run: bool = Field(False, description="Only preview the diff")
    force: bool = Field(False)  # send even when every field already holds its value

    @model_validator(mode="after")
    def _something_to_do(self) -> UpdateAssistantArgs:
        # Mirrors `minProperties: 2`; that the tool's own flags alone change nothing is checked in `checking`.
        if not (self.model_fields_set - {"id"}):
            raise ValueError(NOTHING_TO_UPDATE)
        return self

    def body(self, order: list[str] | None = None) -> dict[str, Any]:
        """The request body: exactly the fields given (explicit nulls kept), in the caller's order."""
        dumped = self.model_dump(mode="json", exclude_unset=True, exclude=set(TOOL_ONLY))
        keys = [k for k in (order or []) if k in dumped] + [k for k in dumped if k not in (order or [])]
        return {k: dumped[k] for k in keys}


NOTHING_TO_UPDATE = "no fields to change besides id"
