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

Beside its type and bounds, each field declares its kind (`Annotated` metadata, which the schema
does not carry): what its values mean, the other names it goes by, how the list stores it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from sondos_mcp.vocabulary_kinds import (
    Choice,
    Count,
    Entries,
    Fraction,
    Identifier,
    Level,
    Multiplier,
    Name,
    Object,
    Pairs,
    Reference,
    Seconds,
    Switch,
    Text,
    Url,
    Zone,
    check_complete,
    kind_of,
)

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


# What each field is, beside its type and bounds: its kind (how a refused value is read), the other
# names it goes by (this API's variants, and the names Vapi, Retell, Bland and ElevenLabs agents
# give the same setting), how the assistants list stores it. `check_complete` (at the end of this
# module) refuses a field that does not say; see `sondos_mcp.vocabulary_kinds`.

_POST_CALL_TYPES = {
    "boolean": "bool",
    "str": "string",
    "text": "string",
    "int": "number",
    "integer": "number",
    "float": "number",
    "numeric": "number",
    "double": "number",
    "decimal": "number",
}
_DIRECTIONS = {
    "inbound": "receive",
    "incoming": "receive",
    "in": "receive",
    "receiving": "receive",
    "receivecalls": "receive",
    "answer": "receive",
    "outbound": "make",
    "outgoing": "make",
    "out": "make",
    "making": "make",
    "makecalls": "make",
    "dial": "make",
    "dialout": "make",
}
_ENGINES = {
    "realtime": "multimodal",
    "speechtospeech": "multimodal",
    "sts": "multimodal",
    "s2s": "multimodal",
    "nativeaudio": "multimodal",
    "cascade": "pipeline",
    "cascaded": "pipeline",
    "sttllmtts": "pipeline",
    "asrllmtts": "pipeline",
}
_ENDPOINTING = {
    "voiceactivitydetection": "vad",
    "silence": "vad",
    "silencebased": "vad",
    "smart": "ai",
    "semantic": "ai",
    "llm": "ai",
    "model": "ai",
    "aibased": "ai",
    "smartendpointing": "ai",
}
_SPEAKERS = {
    "assistant": "AI assistant",
    "ai": "AI assistant",
    "aiassistant": "AI assistant",
    "bot": "AI assistant",
    "agent": "AI assistant",
    "assistantspeaksfirst": "AI assistant",
    "agentspeaksfirst": "AI assistant",
    "assistantfirst": "AI assistant",
    "customer": "Customer",
    "caller": "Customer",
    "user": "Customer",
    "human": "Customer",
    "client": "Customer",
    "assistantwaitsforuser": "Customer",
    "userspeaksfirst": "Customer",
    "customerfirst": "Customer",
    "callerfirst": "Customer",
}


class PostCallField(_Strict):
    """One field the post-call analysis extracts."""

    # Field names say it all here; the schema carries no descriptions to save tokens.
    name: Annotated[str, Identifier(names=("key", "field", "field_name", "label", "id"))] = Field(
        pattern=POST_CALL_NAME_PATTERN
    )
    type: Annotated[
        PostCallType, Choice(names=("data_type", "datatype", "kind", "value_type"), spellings=_POST_CALL_TYPES)
    ]
    description: Annotated[str, Text(names=("desc", "prompt", "instruction", "question", "details"))]


class EndCallTool(_Strict):
    """Settings of the tool the assistant uses to hang up."""

    description: Annotated[str, Text(names=("desc", "prompt", "instructions", "when"))] = _field(
        "When to hang up", max_length=500
    )


class AssistantUpdate(_Strict):
    """The request body of `PUT /user/assistant/{id}`; every field optional."""

    assistant_name: Annotated[
        str, Name(names=("title", "display_name", "bot_name"), stored="name", retell=("agent_name",))
    ] = _field(None, min_length=1, max_length=255)
    voice_id: Annotated[
        Integer,
        Reference(
            lookup="voices",
            names=("voice", "voice_name", "tts_voice", "speaker", "voiceid"),
            vapi=("voice.voiceId",),
            elevenlabs=("conversation_config.tts.voice_id",),
        ),
    ] = _field("See list_voices")
    language: Annotated[
        str,
        Reference(
            lookup="languages",
            key="name",
            names=("lang", "locale", "language_code", "spoken_language", "stt_language"),
            vapi=("transcriber.language",),
            elevenlabs=("conversation_config.agent.language",),
        ),
    ] = _field("Name, e.g. Arabic", max_length=100)
    llm_model: Annotated[
        str,
        Reference(
            lookup="models",
            key="name",
            names=("model", "llm", "model_name", "ai_model", "language_model", "llm_name", "gpt_model"),
            vapi=("model.model",),
            elevenlabs=("conversation_config.agent.prompt.llm",),
        ),
    ] = _field("Model name", max_length=100)
    calls_direction: Annotated[
        CallsDirection,
        Choice(
            names=("direction", "call_direction", "call_type", "calls_type", "assistant_type"),
            spellings=_DIRECTIONS,
            stored="type",
            stored_values={"inbound": "receive", "outbound": "make"},
        ),
    ] = _field("receive=inbound, make=outbound")
    engine_type: Annotated[
        EngineType,
        Choice(names=("engine", "engine_mode", "voice_engine", "architecture"), spellings=_ENGINES, stored="mode"),
    ] = _field(None)
    timezone: Annotated[str, Zone(names=("tz", "time_zone", "timezone_name", "zone"), bland=("timezone",))] = _field(
        "IANA, e.g. Asia/Riyadh"
    )
    initial_message: Annotated[
        str,
        Text(
            names=(
                "greeting",
                "welcome_message",
                "opening_message",
                "opening_line",
                "intro_message",
                "greeting_message",
                "first_line",
                "start_message",
            ),
            vapi=("firstMessage",),
            retell=("begin_message",),
            bland=("first_sentence",),
            elevenlabs=("first_message", "conversation_config.agent.first_message"),
        ),
    ] = _field("First line spoken")
    system_prompt: Annotated[
        str,
        Text(
            names=("prompt", "instructions", "system_message", "system_instructions", "agent_prompt"),
            retell=("general_prompt",),
            bland=("task",),
            elevenlabs=("conversation_config.agent.prompt.prompt",),
        ),
    ] = _field(None)
    phone_number_id: Annotated[
        Integer | None,
        Reference(
            lookup="phone_numbers",
            names=("phone_number", "phone_id", "phone", "number_id", "caller_id"),
            vapi=("phoneNumberId",),
            retell=("from_number",),
            null_means="unassign the phone number",
        ),
    ] = Field(None, description="null unassigns")
    endpoint_type: Annotated[
        EndpointType,
        Choice(
            names=("endpointing", "endpointing_type", "turn_detection", "end_of_turn_detection"), spellings=_ENDPOINTING
        ),
    ] = _field("End-of-turn detection")
    endpoint_sensitivity: Annotated[
        float,
        Level(
            names=("endpointing_sensitivity", "turn_sensitivity"),
            retell=("responsiveness",),
            scaled={"responsiveness": 1},
        ),
    ] = _field(None, ge=0, le=5)
    interrupt_sensitivity: Annotated[
        float,
        Level(
            names=("barge_in_sensitivity", "interruption_threshold"),
            retell=("interruption_sensitivity",),
            scaled={"interruption_sensitivity": 1},
        ),
    ] = _field(None, ge=0, le=5)
    ambient_sound_volume: Annotated[
        float,
        Fraction(
            about="0 none, 1 loudest",
            names=(
                "ambient_volume",
                "background_volume",
                "background_sound_volume",
                "ambient_sound",
                "ambience_volume",
            ),
        ),
    ] = _field(None, ge=0, le=1)
    post_call_evaluation: Annotated[
        bool,
        Switch(
            names=("post_call_analysis", "call_evaluation", "evaluation", "enable_post_call_evaluation"),
            stored_flag=True,
        ),
    ] = _field(None)
    send_webhook_only_on_completed: Annotated[
        bool, Switch(names=("webhook_only_on_completed", "webhook_on_completed_only"))
    ] = _field(None)
    include_recording_in_webhook: Annotated[
        bool, Switch(names=("webhook_include_recording", "include_recording", "recording_in_webhook"))
    ] = _field(None)
    is_webhook_active: Annotated[
        bool,
        Switch(
            names=("webhook_active", "webhook_enabled", "enable_webhook", "use_webhook", "webhook_is_active"),
            stored_flag=True,
        ),
    ] = _field(None)  # needs a webhook_url: the checks say so when it is missing
    webhook_url: Annotated[
        str | None,
        Url(
            names=("webhook", "callback_url", "webhook_endpoint", "webhook_uri"),
            vapi=("serverUrl", "server.url"),
            bland=("webhook",),
            null_means="remove the webhook",
        ),
    ] = Field(None, description="null removes", pattern=WEBHOOK_URL_PATTERN)
    use_min_interrupt_words: Annotated[
        bool, Switch(names=("min_interrupt_words_enabled", "enable_min_interrupt_words"))
    ] = _field(None)
    min_interrupt_words: Annotated[
        Integer,
        Count(
            unit="words",
            names=(
                "min_interruption_words",
                "interrupt_words",
                "minimum_interrupt_words",
                "interruption_min_words",
                "min_words_to_interrupt",
                "min_words",
                "minimum_words",
                "num_words",
                "num_words_to_interrupt",
                "interruption_words",
                "words_before_interrupt",
            ),
            vapi=("numWordsToInterruptAssistant", "stopSpeakingPlan.numWords"),
        ),
    ] = _field(None, ge=0, le=10)
    variables: Annotated[
        dict[str, Any],
        Pairs(
            names=("vars", "custom_variables", "variable_values", "context_variables"),
            vapi=("variableValues",),
            retell=("retell_llm_dynamic_variables",),
            bland=("request_data",),
            elevenlabs=("dynamic_variables",),
        ),
    ] = _field(None)
    post_call_schema: Annotated[
        list[PostCallField],
        Entries(
            names=("post_call_fields", "extraction_schema", "post_call_data", "extract_fields", "data_extraction"),
            vapi=("analysisPlan.structuredDataSchema", "structuredDataSchema"),
            retell=("post_call_analysis_data",),
            bland=("analysis_schema",),
            elevenlabs=("data_collection",),
        ),
    ] = _field("Extracted after each call")
    end_call_tool: Annotated[
        EndCallTool, Object(text_field="description", names=("end_call", "end_call_function", "hangup_tool"))
    ] = _field(None)
    llm_temperature: Annotated[
        float,
        Fraction(
            about="0 predictable, 1 varied",
            scales=(2, 10, 100),
            names=("temperature", "temp", "llm_temp"),
            vapi=("model.temperature",),
            retell=("model_temperature",),
            elevenlabs=("conversation_config.agent.prompt.temperature",),
        ),
    ] = _field(None, ge=0, le=1)
    voice_stability: Annotated[
        float,
        Fraction(
            about="0 expressive, 1 steady",
            names=("stability", "tts_stability"),
            vapi=("voice.stability",),
            elevenlabs=("tts.stability",),
        ),
    ] = _field(None, ge=0, le=1)
    voice_similarity: Annotated[
        float,
        Fraction(
            about="0 loose, 1 close to the voice",
            names=("similarity", "voice_similarity_boost"),
            vapi=("voice.similarityBoost",),
            elevenlabs=("similarity_boost", "tts.similarity_boost"),
        ),
    ] = _field(None, ge=0, le=1)
    speech_speed: Annotated[
        float,
        Multiplier(
            of="speed",
            names=("speed", "speaking_rate", "speaking_speed", "talk_speed", "rate", "speech_rate", "tts_speed"),
            vapi=("voice.speed",),
            retell=("voice_speed",),
            elevenlabs=("tts.speed",),
        ),
    ] = _field("Multiplier", ge=0.7, le=1.2)
    allow_interruptions: Annotated[
        bool,
        Switch(
            names=(
                "interruptions",
                "interruption",
                "allow_interruption",
                "interruptible",
                "can_be_interrupted",
                "interruptions_enabled",
                "barge_in",
            ),
            negated=("block_interruptions", "uninterruptible"),
        ),
    ] = _field(None)
    filler_audios: Annotated[
        bool,
        Switch(
            names=("filler_audio", "filler_words", "fillers_enabled", "use_fillers"),
            vapi=("voice.fillerInjectionEnabled",),
            stored="fillers",
            stored_flag=True,
        ),
    ] = _field("Filler sounds while thinking")
    re_engagement_interval: Annotated[
        Integer,
        Seconds(
            names=("reminder_interval", "re_engage_interval", "re_engagement", "reminder_trigger", "idle_timeout"),
            vapi=("messagePlan.idleTimeoutSeconds",),
            retell=("reminder_trigger_ms",),
            elevenlabs=("turn_timeout", "conversation_config.turn.turn_timeout"),
            stored="reengagement_interval",
        ),
    ] = _field("Seconds", ge=7, le=600)
    max_call_duration: Annotated[
        Integer,
        Seconds(
            names=("call_duration", "max_call_length", "max_call_time", "call_time_limit", "duration_limit"),
            vapi=("maxDurationSeconds",),
            retell=("max_call_duration_ms",),
            elevenlabs=("conversation_config.conversation.max_duration_seconds",),
            stored="max_duration",
        ),
    ] = _field("Seconds", ge=20, le=1200)
    max_silence_duration: Annotated[
        Integer,
        Seconds(
            names=(
                "silence_timeout",
                "max_silence",
                "silence_duration",
                "end_call_after_silence",
                "hangup_after_silence",
                "end_call_on_silence",
                "idle_timeout",
            ),
            vapi=("silenceTimeoutSeconds",),
            retell=("end_call_after_silence_ms",),
            elevenlabs=("silence_end_call_timeout", "conversation_config.turn.silence_end_call_timeout"),
        ),
    ] = _field("Seconds", ge=1, le=120)
    end_call_on_voicemail: Annotated[
        bool,
        Switch(
            names=("voicemail_detection", "end_on_voicemail", "hangup_on_voicemail", "detect_voicemail"),
            vapi=("voicemailDetection",),
            retell=("enable_voicemail_detection",),
        ),
    ] = _field(None)
    noise_cancellation: Annotated[
        bool,
        Switch(
            names=("noise_suppression", "denoising", "background_denoising", "noise_reduction"),
            vapi=("backgroundDenoisingEnabled",),
            bland=("noise_cancellation",),
        ),
    ] = _field(None)
    record_call: Annotated[
        bool,
        Switch(
            names=("recording", "record_calls", "recording_enabled", "call_recording", "save_recording"),
            vapi=("recordingEnabled", "artifactPlan.recordingEnabled"),
            bland=("record",),
            stored="record",
            stored_flag=True,
        ),
    ] = _field(None)
    who_speaks_first: Annotated[
        WhoSpeaksFirst,
        Choice(
            names=("first_speaker", "speaks_first", "who_starts"),
            vapi=("firstMessageMode",),
            retell=("start_speaker",),
            spellings=_SPEAKERS,
            # Bland's wait_for_greeting: true waits for the customer to speak first.
            switches={"wait_for_greeting": ("Customer", "AI assistant")},
        ),
    ] = _field(None)


def _describe_scales(model: type[BaseModel]) -> None:
    """A field without a description of its own is described by its kind's `about`, when it says
    what the ends of the scale mean (0 none, 1 loudest): generated here, so it cannot drift."""
    for info in model.model_fields.values():
        kind = kind_of(info)
        if info.description is None and kind is not None and kind.about is not None:
            info.description = kind.about
    model.model_rebuild(force=True)


_describe_scales(AssistantUpdate)

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

    id: Annotated[
        Integer,
        Reference(
            lookup="assistants",
            names=("assistant_id", "assistant", "agent", "bot_id", "assistantid"),
            vapi=("assistantId",),
            retell=("agent_id",),
        ),
    ] = Field(description="Assistant id", ge=1, le=MAX_ID)
    dry_run: Annotated[
        bool, Switch(names=("preview", "dryrun", "validate_only", "simulate", "preview_only", "what_if"))
    ] = Field(False, description="Preview only")
    force: Annotated[bool, Switch(names=("force_send", "send_anyway", "always_send", "even_if_unchanged"))] = Field(
        False
    )  # send even when every field already holds its value

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

# A field added without saying what it is fails here, at import: in every test run and in CI.
check_complete(UpdateAssistantArgs)
