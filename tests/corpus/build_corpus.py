"""Writes `repair.jsonl`: proposals an agent might send, each with the outcome it should get.

Written from the contract, the way LLM agents misuse tool schemas. Categories:
- valid: forwarded exactly as proposed;
- repair: one plausible reading; `suggested` is the exact corrected arguments expected;
- ambiguous: several readings; candidates expected on `field`, no suggestion;
- refuse: no reading the server may choose; refused, no suggestion, nothing sent.

Context (the sandbox's demo account): assistant 12 is pipeline/outbound, 13 multimodal/inbound,
14 pipeline/English. Voices: pipeline 1 Sarah, 2 Layla, 3 Omar, 6 James; multimodal 4 Noura,
5 Khalid, 7 Layla Realtime. Phone numbers 101 +966112345678, 102 +966501234567, 103 +97144556677,
104 +442071234567. Run `python -m tests.corpus.build_corpus` to rewrite the file.
"""

from __future__ import annotations

from pathlib import Path

from tests.corpus.cases import Corpus

corpus = Corpus(default_id=12, notes=True)
valid, repair, ambiguous, refuse = corpus.valid, corpus.repair, corpus.ambiguous, corpus.refuse

# --- valid: forwarded exactly ---------------------------------------------------------------
valid({"speech_speed": 0.9})
valid({"speech_speed": 1.2, "llm_temperature": 0})
valid({"max_call_duration": 600})
valid({"max_call_duration": 20, "max_silence_duration": 120})
valid({"re_engagement_interval": 7})
valid({"allow_interruptions": False, "filler_audios": True})
valid({"calls_direction": "receive"})
valid({"engine_type": "pipeline", "voice_id": 3})
valid({"voice_id": 6})
valid({"language": "English"})
valid({"language": "Arabic", "timezone": "Asia/Riyadh"})
valid({"timezone": "America/New_York"})
valid({"timezone": "Europe/London"})
valid({"timezone": "UTC"})
valid({"timezone": "Etc/GMT-3"}, "a fixed offset named the tz way is sent as is")
valid({"llm_model": "GPT-4o"})
valid({"llm_model": "Gemini 2.0 Flash", "llm_temperature": 0.4})
valid({"phone_number_id": 104})
valid({"phone_number_id": None}, "null unassigns")
valid({"webhook_url": None}, "null removes")
valid({"is_webhook_active": True, "webhook_url": "https://hooks.example.com/calls"})
valid({"is_webhook_active": False})
valid({"send_webhook_only_on_completed": True, "include_recording_in_webhook": False})
valid({"use_min_interrupt_words": True, "min_interrupt_words": 3})
valid({"min_interrupt_words": 0})
valid({"endpoint_type": "ai", "endpoint_sensitivity": 2.5})
valid({"endpoint_type": "vad", "interrupt_sensitivity": 5})
valid({"ambient_sound_volume": 0.3, "noise_cancellation": True})
valid({"voice_stability": 0.65, "voice_similarity": 0.8})
valid({"who_speaks_first": "Customer"})
valid({"who_speaks_first": "AI assistant", "initial_message": "مرحبا، كيف أقدر أساعدك؟"})
valid({"assistant_name": "Riyadh Sales v2"})
valid({"system_prompt": "You are a polite sales assistant.\nNever promise discounts."})
valid({"variables": {"company": "Acme", "region": "Riyadh"}})
valid({"variables": {}})
valid({"post_call_schema": [{"name": "lead_score", "type": "number", "description": "0-10"}]})
valid(
    {
        "post_call_schema": [
            {"name": "interested", "type": "bool", "description": "Wants a demo"},
            {"name": "city", "type": "string", "description": "Caller's city"},
        ]
    }
)
valid({"end_call_tool": {"description": "When the caller says goodbye"}})
valid({"record_call": True, "end_call_on_voicemail": True, "post_call_evaluation": True})
valid({"max_call_duration": 1200, "re_engagement_interval": 600, "max_silence_duration": 1})
valid({"speech_speed": 0.7, "dry_run": True}, "a preview is valid and sends nothing")
valid({"engine_type": "multimodal", "voice_id": 5}, "the voice fits the engine the proposal sets")

# --- repair: field names from this API's stored shape and neighbouring APIs --------------------
NAMES = [
    ("name", "Riyadh Sales v2", "assistant_name", "Riyadh Sales v2"),
    ("assistantName", "Front Desk", "assistant_name", "Front Desk"),
    ("agent_name", "Front Desk", "assistant_name", "Front Desk"),
    ("voice", 3, "voice_id", 3),
    ("voiceId", 6, "voice_id", 6),
    ("lang", "English", "language", "English"),
    ("model", "GPT-4o", "llm_model", "GPT-4o"),
    ("llmModel", "GPT-4.1", "llm_model", "GPT-4.1"),
    ("direction", "receive", "calls_direction", "receive"),
    ("callsDirection", "make", "calls_direction", "make"),
    ("mode", "pipeline", "engine_type", "pipeline"),
    ("engineType", "pipeline", "engine_type", "pipeline"),
    ("tz", "Asia/Dubai", "timezone", "Asia/Dubai"),
    ("time_zone", "Europe/London", "timezone", "Europe/London"),
    ("first_message", "Hi there!", "initial_message", "Hi there!"),
    ("firstMessage", "Hello!", "initial_message", "Hello!"),
    ("begin_message", "Welcome to Acme.", "initial_message", "Welcome to Acme."),
    ("first_sentence", "Hi, it's Acme.", "initial_message", "Hi, it's Acme."),
    ("greeting", "Good morning!", "initial_message", "Good morning!"),
    ("prompt", "Be brief.", "system_prompt", "Be brief."),
    ("general_prompt", "Be brief.", "system_prompt", "Be brief."),
    ("task", "Book appointments.", "system_prompt", "Book appointments."),
    ("systemPrompt", "Be kind.", "system_prompt", "Be kind."),
    ("instructions", "Speak slowly.", "system_prompt", "Speak slowly."),
    ("phoneNumberId", 103, "phone_number_id", 103),
    ("endpointing", "ai", "endpoint_type", "ai"),
    ("responsiveness", 3, "endpoint_sensitivity", 3),
    ("interruption_sensitivity", 2, "interrupt_sensitivity", 2),
    ("interruptSensitivity", 4, "interrupt_sensitivity", 4),
    ("ambient_volume", 0.2, "ambient_sound_volume", 0.2),
    ("background_volume", 0.1, "ambient_sound_volume", 0.1),
    ("post_call_analysis", True, "post_call_evaluation", True),
    ("webhook", "https://hooks.example.com/a", "webhook_url", "https://hooks.example.com/a"),
    ("webhookUrl", "https://hooks.example.com/b", "webhook_url", "https://hooks.example.com/b"),
    ("server_url", "https://hooks.example.com/c", "webhook_url", "https://hooks.example.com/c"),
    ("webhook_enabled", False, "is_webhook_active", False),
    ("isWebhookActive", False, "is_webhook_active", False),
    ("minInterruptWords", 2, "min_interrupt_words", 2),
    ("dynamic_variables", {"city": "Jeddah"}, "variables", {"city": "Jeddah"}),
    ("temperature", 0.3, "llm_temperature", 0.3),
    ("llmTemperature", 0.5, "llm_temperature", 0.5),
    ("stability", 0.5, "voice_stability", 0.5),
    ("similarity_boost", 0.75, "voice_similarity", 0.75),
    ("similarityBoost", 0.7, "voice_similarity", 0.7),
    ("speed", 0.9, "speech_speed", 0.9),
    ("voice_speed", 1.1, "speech_speed", 1.1),
    ("speaking_rate", 0.8, "speech_speed", 0.8),
    ("speechSpeed", 1.0, "speech_speed", 1.0),
    ("interruptions", False, "allow_interruptions", False),
    ("allowInterruptions", True, "allow_interruptions", True),
    ("fillers", True, "filler_audios", True),
    ("filler_words", False, "filler_audios", False),
    ("reengagement_interval", 30, "re_engagement_interval", 30),
    ("reEngagementInterval", 45, "re_engagement_interval", 45),
    ("max_duration", 900, "max_call_duration", 900),
    ("maxCallDuration", 300, "max_call_duration", 300),
    ("silence_timeout", 20, "max_silence_duration", 20),
    ("maxSilenceDuration", 15, "max_silence_duration", 15),
    ("voicemail_detection", True, "end_call_on_voicemail", True),
    ("endCallOnVoicemail", True, "end_call_on_voicemail", True),
    ("noise_suppression", True, "noise_cancellation", True),
    ("background_denoising", False, "noise_cancellation", False),
    ("record", True, "record_call", True),
    ("recording_enabled", False, "record_call", False),
    ("recordCall", True, "record_call", True),
    ("first_speaker", "Customer", "who_speaks_first", "Customer"),
    ("whoSpeaksFirst", "Customer", "who_speaks_first", "Customer"),
    ("speach_speed", 0.8, "speech_speed", 0.8),
    ("max_cal_duration", 300, "max_call_duration", 300),
    ("end_call_tool_description", None, None, None),  # placeholder, skipped below
]
for given, value, field, fixed in NAMES:
    if field is None:
        continue
    repair({given: value}, {field: fixed}, f"{given} is {field}")

# Units written in the field's name.
repair({"max_call_duration_minutes": 10}, {"max_call_duration": 600}, "minutes in the name")
repair({"maxDurationMinutes": 15}, {"max_call_duration": 900}, "minutes in the camelCase name")
repair({"max_duration_seconds": 480}, {"max_call_duration": 480}, "seconds in the name")
repair({"maxDurationSeconds": 600}, {"max_call_duration": 600}, "Vapi's name")
repair({"silenceTimeoutSeconds": 30}, {"max_silence_duration": 30}, "Vapi's name")
repair({"silenceTimeoutMs": 30000}, {"max_silence_duration": 30}, "milliseconds in the name")
repair({"end_call_after_silence_ms": 20000}, {"max_silence_duration": 20}, "Retell's name, ms")
repair({"max_call_duration_ms": 300000}, {"max_call_duration": 300}, "Retell's name, ms")
repair({"reminder_trigger_ms": 10000}, {"re_engagement_interval": 10}, "Retell's reminder, ms")
repair({"re_engagement_interval_minutes": 2}, {"re_engagement_interval": 120}, "minutes in the name")
repair({"voice_stability_percent": 70}, {"voice_stability": 0.7}, "percent in the name")
repair({"speech_speed_percent": 110}, {"speech_speed": 1.1}, "percent of normal in the name")

# --- repair: units and scales written in the value -------------------------------------------
UNITS = [
    ("max_call_duration", "4 min", 240),
    ("max_call_duration", "10 minutes", 600),
    ("max_call_duration", "20 mins", 1200),
    ("max_call_duration", "300s", 300),
    ("max_call_duration", "900 seconds", 900),
    ("max_call_duration", "1m30s", 90),
    ("max_call_duration", "5 min 30 sec", 330),
    ("max_call_duration", "two minutes", 120),
    ("max_call_duration", "600000 ms", 600),
    ("max_silence_duration", "3000 ms", 3),
    ("max_silence_duration", "30 sec", 30),
    ("max_silence_duration", "1 minute", 60),
    ("max_silence_duration", "45s", 45),
    ("re_engagement_interval", "90 seconds", 90),
    ("re_engagement_interval", "2 min", 120),
    ("re_engagement_interval", "10000ms", 10),
    ("voice_stability", "65 percent", 0.65),
    ("voice_stability", "80%", 0.8),
    ("voice_similarity", "75%", 0.75),
    ("ambient_sound_volume", "20%", 0.2),
    ("llm_temperature", "30%", 0.3),
    ("speech_speed", "0.95x", 0.95),
    ("speech_speed", "1.1x", 1.1),
    ("speech_speed", "110%", 1.1),
    ("speech_speed", "90 percent", 0.9),
    ("speech_speed", "+10%", 1.1),
    ("speech_speed", "-20%", 0.8),
    ("min_interrupt_words", "3 words", 3),
]
for field, value, fixed in UNITS:
    repair({field: value}, {field: fixed}, f"unit written in the value: {value}")

# Numbers sent as strings, whole-number floats, words for the bounds.
for field, value, fixed in [
    ("max_call_duration", "300", 300),
    ("speech_speed", "1.1", 1.1),
    ("llm_temperature", "0.7", 0.7),
    ("min_interrupt_words", "4", 4),
    ("voice_id", "3", 3),
    ("phone_number_id", "104", 104),
    ("max_silence_duration", "1,200", None),
    ("max_call_duration", "1,200", 1200),
    ("speech_speed", "max", 1.2),
    ("speech_speed", "normal", 1),
    ("ambient_sound_volume", "off", None),
    ("max_call_duration", "maximum", 1200),
    ("voice_stability", "max", 1),
    ("llm_temperature", "min", 0),
]:
    if fixed is not None:
        repair({field: value}, {field: fixed}, f"a number written as {value!r}")

# Just past a bound, with no other sensible reading: clamped.
for field, value, fixed in [
    ("speech_speed", 1.25, 1.2),
    ("speech_speed", 1.21, 1.2),
    ("speech_speed", 0.65, 0.7),
    ("speech_speed", 0.69, 0.7),
    ("voice_stability", 1.01, 1),
    ("llm_temperature", -0.01, 0),
    ("ambient_sound_volume", 1.05, 1),
    ("endpoint_sensitivity", 5.1, 5),
    ("interrupt_sensitivity", -0.1, 0),
    ("min_interrupt_words", 11, 10),
    ("max_call_duration", 1201, 1200),
    ("max_call_duration", 1230, 1200),
    ("re_engagement_interval", 601, 600),
    ("max_silence_duration", 121, 120),
]:
    repair({field: value}, {field: fixed}, f"{value} just past the bound")

# Integer fields given a fraction of a second.
repair({"max_call_duration": 299.6}, {"max_call_duration": 300}, "rounded to whole seconds")
repair({"max_silence_duration": 14.8}, {"max_silence_duration": 15}, "rounded to whole seconds")

# Enum spellings.
ENUMS = [
    ("calls_direction", "inbound", "receive"),
    ("calls_direction", "Outbound", "make"),
    ("calls_direction", "incoming", "receive"),
    ("calls_direction", "outgoing", "make"),
    ("calls_direction", "RECEIVE", "receive"),
    ("engine_type", "Pipeline", "pipeline"),
    ("engine_type", "MULTIMODAL", "multimodal"),
    ("engine_type", "realtime", "multimodal"),
    ("engine_type", "speech-to-speech", "multimodal"),
    ("engine_type", "cascaded", "pipeline"),
    ("endpoint_type", "VAD", "vad"),
    ("endpoint_type", "AI", "ai"),
    ("endpoint_type", "voice activity detection", "vad"),
    ("endpoint_type", "smart", "ai"),
    ("who_speaks_first", "assistant", "AI assistant"),
    ("who_speaks_first", "ai", "AI assistant"),
    ("who_speaks_first", "AI_assistant", "AI assistant"),
    ("who_speaks_first", "agent", "AI assistant"),
    ("who_speaks_first", "customer", "Customer"),
    ("who_speaks_first", "caller", "Customer"),
    ("who_speaks_first", "user", "Customer"),
    ("who_speaks_first", "assistant-speaks-first", "AI assistant"),
    ("who_speaks_first", "assistant-waits-for-user", "Customer"),
    ("calls_direction", "recieve", "receive"),
]
for field, value, fixed in ENUMS:
    extra = {"voice_id": 4} if fixed == "multimodal" else {}
    repair({field: value} | extra, {field: fixed} | extra, f"enum spelling {value!r}")

# Booleans spelled as strings or 0/1.
for field, value, fixed in [
    ("allow_interruptions", "true", True),
    ("allow_interruptions", "false", False),
    ("record_call", "yes", True),
    ("record_call", 0, False),
    ("filler_audios", 1, True),
    ("noise_cancellation", "on", True),
    ("end_call_on_voicemail", "enabled", True),
    ("post_call_evaluation", "no", False),
    ("is_webhook_active", "False", False),
    ("use_min_interrupt_words", "TRUE", True),
    ("include_recording_in_webhook", "off", False),
    ("send_webhook_only_on_completed", 1, True),
]:
    repair({field: value}, {field: fixed}, f"boolean spelled {value!r}")
repair({"dry_run": "true", "speech_speed": 0.9}, {"dry_run": True, "speech_speed": 0.9}, "dry_run as a string")

# Removal spelled as a string where null has that meaning.
for field, value in [
    ("webhook_url", "null"),
    ("webhook_url", "none"),
    ("webhook_url", ""),
    ("phone_number_id", "null"),
    ("phone_number_id", "none"),
    ("phone_number_id", "remove"),
]:
    repair({field: value}, {field: None}, f"removal spelled {value!r}")

# URLs without their scheme, or with stray whitespace.
repair({"webhook_url": "hooks.example.com/calls"}, {"webhook_url": "https://hooks.example.com/calls"}, "no scheme")
repair({"webhook_url": " https://hooks.example.com/x "}, {"webhook_url": "https://hooks.example.com/x"}, "spaces")
repair(
    {"is_webhook_active": True, "webhook_url": "api.acme.io/hook"},
    {"is_webhook_active": True, "webhook_url": "https://api.acme.io/hook"},
    "enable with a URL lacking its scheme",
)

# Timezones.
for value, fixed in [
    ("Riyadh", "Asia/Riyadh"),
    ("riyadh", "Asia/Riyadh"),
    ("Dubai", "Asia/Dubai"),
    ("New York", "America/New_York"),
    ("London", "Europe/London"),
    ("Cairo", "Africa/Cairo"),
    ("asia/dubai", "Asia/Dubai"),
    ("america/new_york", "America/New_York"),
    ("Jeddah", "Asia/Riyadh"),
    ("Abu Dhabi", "Asia/Dubai"),
    ("Doha", "Asia/Qatar"),
    ("GMT+3", "Etc/GMT-3"),
    ("UTC+4", "Etc/GMT-4"),
    ("UTC-5", "Etc/GMT+5"),
    ("+03:00", "Etc/GMT-3"),
    ("UTC+0", "UTC"),
    ("Asia/Riyad", "Asia/Riyadh"),
    ("Saudi Arabia", "Asia/Riyadh"),
    ("Los Angeles", "America/Los_Angeles"),
    ("Mumbai", "Asia/Kolkata"),
]:
    repair({"timezone": value}, {"timezone": fixed}, f"timezone {value!r}")

# References by name, digits or code.
repair({"voice_id": "Layla"}, {"voice_id": 2}, "voice by name, pipeline assistant")
repair({"voice_id": "omar"}, {"voice_id": 3}, "voice by name, any case")
repair({"voice": "James"}, {"voice_id": 6}, "voice by name under another field name")
repair({"voice_id": "Noura"}, {"voice_id": 4}, "voice by name on a multimodal assistant", aid=13)
repair(
    {"engine_type": "multimodal", "voice_id": "Khalid"},
    {"engine_type": "multimodal", "voice_id": 5},
    "voice by name, checked against the engine the proposal sets",
)
repair(
    {"engine_type": "multimodal", "voice_id": "Layla Realtime"},
    {"engine_type": "multimodal", "voice_id": 7},
    "the multimodal voice by its full name",
)
repair(
    {"engine_type": "pipeline", "voice_id": "Sarah"},
    {"engine_type": "pipeline", "voice_id": 1},
    "switching a multimodal assistant to pipeline with a pipeline voice by name",
    aid=13,
)
repair({"phone_number_id": "+966 50 123 4567"}, {"phone_number_id": 102}, "phone by its number")
repair({"phone_number_id": "+442071234567"}, {"phone_number_id": 104}, "phone in E.164")
repair({"phone_number_id": "00971 4 455 6677"}, {"phone_number_id": 103}, "phone with 00 prefix")
repair({"phone_number_id": 97144556677}, {"phone_number_id": 103}, "phone number digits as an integer")
repair({"phone_number": "+966112345678"}, {"phone_number_id": 101}, "phone under another field name")
repair({"language": "arabic"}, {"language": "Arabic"}, "language case")
repair({"language": "ar"}, {"language": "Arabic"}, "language code")
repair({"language": "en-US"}, {"language": "English"}, "locale")
repair({"language": "fr_FR"}, {"language": "French"}, "locale with underscore")
repair({"language": "Deutsch"}, {"language": "German"}, "endonym")
repair({"language": "العربية"}, {"language": "Arabic"}, "endonym in Arabic script")
repair({"language": "Español"}, {"language": "Spanish"}, "endonym")
repair({"language": ["English"]}, {"language": "English"}, "one language in a list")
repair({"lang": "tr"}, {"language": "Turkish"}, "code under another field name")
repair({"llm_model": "gpt-4o-mini"}, {"llm_model": "GPT-4o-mini"}, "model case")
repair({"llm_model": "gpt 4o mini"}, {"llm_model": "GPT-4o-mini"}, "model spacing")
repair({"llm_model": "gpt-4.1"}, {"llm_model": "GPT-4.1"}, "model case")
repair({"llm_model": "gemini-2.0-flash"}, {"llm_model": "Gemini 2.0 Flash"}, "model in slug form")
repair({"model": "openai/gpt-4o"}, {"llm_model": "GPT-4o"}, "model with a provider prefix")

# Structures: strings and lists where objects are expected, and the other way round.
repair({"variables": '{"city": "Riyadh"}'}, {"variables": {"city": "Riyadh"}}, "object as a JSON string")
repair(
    {"variables": [{"key": "city", "value": "Riyadh"}, {"key": "plan", "value": "gold"}]},
    {"variables": {"city": "Riyadh", "plan": "gold"}},
    "key/value list where a map is expected",
)
repair(
    {"variables": [{"name": "city", "value": "Dubai"}]}, {"variables": {"city": "Dubai"}}, "name/value list as a map"
)
repair({"variables": "city=Riyadh, plan=gold"}, {"variables": {"city": "Riyadh", "plan": "gold"}}, "k=v pairs")
repair(
    {"end_call_tool": "When the caller says goodbye"},
    {"end_call_tool": {"description": "When the caller says goodbye"}},
    "a bare string where the object is expected",
)
repair(
    {"post_call_schema": {"name": "score", "type": "number", "description": "Lead score"}},
    {"post_call_schema": [{"name": "score", "type": "number", "description": "Lead score"}]},
    "one entry not wrapped in a list",
)
repair(
    {"post_call_schema": '[{"name": "city", "type": "string", "description": "City"}]'},
    {"post_call_schema": [{"name": "city", "type": "string", "description": "City"}]},
    "list as a JSON string",
)
repair(
    {"post_call_schema": [{"name": "lead score", "type": "number", "description": "0-10"}]},
    {"post_call_schema": [{"name": "lead_score", "type": "number", "description": "0-10"}]},
    "space in a post-call name",
)
repair(
    {"post_call_schema": [{"name": "interested", "type": "boolean", "description": "Wants a demo"}]},
    {"post_call_schema": [{"name": "interested", "type": "bool", "description": "Wants a demo"}]},
    "boolean for bool",
)
repair(
    {"post_call_schema": [{"name": "age", "type": "integer", "description": "Caller age"}]},
    {"post_call_schema": [{"name": "age", "type": "number", "description": "Caller age"}]},
    "integer for number",
)
repair(
    {"post_call_schema": [{"key": "city", "type": "string", "description": "City"}]},
    {"post_call_schema": [{"name": "city", "type": "string", "description": "City"}]},
    "key for name inside an entry",
)
repair(
    {"post_call_schema": [{"name": "city", "data_type": "text", "desc": "City"}]},
    {"post_call_schema": [{"name": "city", "type": "string", "description": "City"}]},
    "three slips inside one entry",
)
repair(
    {"end_call_tool": {"desc": "After the booking is confirmed"}},
    {"end_call_tool": {"description": "After the booking is confirmed"}},
    "desc for description",
)

# The id.
repair({"speech_speed": 0.9} | {"id": "12"}, {"speech_speed": 0.9}, "id as a string")
corpus.cases.append(
    {
        "category": "repair",
        "args": {"assistant_id": 14, "record_call": True},
        "suggested": {"id": 14, "record_call": True},
        "note": "assistant_id for id",
    }
)
corpus.cases.append(
    {
        "category": "repair",
        "args": {"assistantId": 12, "speed": 0.9},
        "suggested": {"id": 12, "speech_speed": 0.9},
        "note": "camelCase id and a synonym",
    }
)

# Several mistakes at once, each with one reading.
MULTI = [
    (
        {"speed": "0.9x", "temperature": "30%", "direction": "inbound"},
        {"speech_speed": 0.9, "llm_temperature": 0.3, "calls_direction": "receive"},
    ),
    (
        {"maxDurationMinutes": 10, "silenceTimeoutSeconds": 20, "recordingEnabled": "yes"},
        {"max_call_duration": 600, "max_silence_duration": 20, "record_call": True},
    ),
    (
        {"firstMessage": "Hello!", "voice": "Omar", "language": "en"},
        {"initial_message": "Hello!", "voice_id": 3, "language": "English"},
    ),
    (
        {"webhook": "hooks.example.com/x", "webhook_enabled": "true"},
        {"webhook_url": "https://hooks.example.com/x", "is_webhook_active": True},
    ),
    (
        {"timezone": "Dubai", "language": "arabic", "who_speaks_first": "customer"},
        {"timezone": "Asia/Dubai", "language": "Arabic", "who_speaks_first": "Customer"},
    ),
    (
        {"engine": "realtime", "voice_id": "Noura", "calls_direction": "Outbound"},
        {"engine_type": "multimodal", "voice_id": 4, "calls_direction": "make"},
    ),
    (
        {"max_call_duration": "15 min", "re_engagement_interval": "45s", "max_silence_duration": "1 min"},
        {"max_call_duration": 900, "re_engagement_interval": 45, "max_silence_duration": 60},
    ),
    (
        {"stability": "70%", "similarity_boost": "80%", "speed": "normal"},
        {"voice_stability": 0.7, "voice_similarity": 0.8, "speech_speed": 1},
    ),
    (
        {"phone_number": "+966 11 234 5678", "direction": "incoming", "tz": "Riyadh"},
        {"phone_number_id": 101, "calls_direction": "receive", "timezone": "Asia/Riyadh"},
    ),
    (
        {"model": "gpt-4o", "temperature": "0.2", "prompt": "Be short."},
        {"llm_model": "GPT-4o", "llm_temperature": 0.2, "system_prompt": "Be short."},
    ),
    (
        {"allow_interruptions": "no", "interruption_sensitivity": "2", "min_interrupt_words": "2 words"},
        {"allow_interruptions": False, "interrupt_sensitivity": 2, "min_interrupt_words": 2},
    ),
    (
        {"noise_suppression": 1, "ambient_volume": "10%", "fillers": "off"},
        {"noise_cancellation": True, "ambient_sound_volume": 0.1, "filler_audios": False},
    ),
    (
        {"post_call_schema": {"name": "budget range", "type": "str", "description": "Budget"}, "record": 1},
        {
            "post_call_schema": [{"name": "budget_range", "type": "string", "description": "Budget"}],
            "record_call": True,
        },
    ),
    (
        {"variables": '{"plan": "gold"}', "end_call_tool": "After goodbye", "speech_speed": 1.22},
        {"variables": {"plan": "gold"}, "end_call_tool": {"description": "After goodbye"}, "speech_speed": 1.2},
    ),
    (
        {"webhook_url": "null", "is_webhook_active": False},
        {"webhook_url": None, "is_webhook_active": False},
    ),
    (
        {"phone_number_id": "none", "calls_direction": "outbound"},
        {"phone_number_id": None, "calls_direction": "make"},
    ),
    (
        {"name": "Sales KSA", "lang": "ar", "timezone": "GMT+3"},
        {"assistant_name": "Sales KSA", "language": "Arabic", "timezone": "Etc/GMT-3"},
    ),
    (
        {"endpointing": "smart", "responsiveness": "4", "voicemail_detection": "yes"},
        {"endpoint_type": "ai", "endpoint_sensitivity": 4, "end_call_on_voicemail": True},
    ),
    (
        {"max_call_duration_minutes": "12", "engine_type": "Pipeline", "voice_id": "sarah"},
        {"max_call_duration": 720, "engine_type": "pipeline", "voice_id": 1},
    ),
    (
        {"first_speaker": "agent", "greeting": "أهلاً وسهلاً", "speech_speed": "-10%"},
        {"who_speaks_first": "AI assistant", "initial_message": "أهلاً وسهلاً", "speech_speed": 0.9},
    ),
    (
        {"llmTemperature": "0.5", "llmModel": "gpt-4.1-mini", "systemPrompt": "Answer in Arabic."},
        {"llm_temperature": 0.5, "llm_model": "GPT-4.1-mini", "system_prompt": "Answer in Arabic."},
    ),
    (
        {"record_call": "true", "include_recording": "true", "send_webhook_only_on_completed": "yes"},
        {"record_call": True, "include_recording_in_webhook": True, "send_webhook_only_on_completed": True},
    ),
    (
        {"speech_speed": 1.3 - 0.08, "voice_stability": 1.02, "llm_temperature": 1.04},
        {"speech_speed": 1.2, "voice_stability": 1, "llm_temperature": 1},
    ),
    (
        {"timezone": "New York", "language": "English", "calls_direction": "make", "speed": "95%"},
        {"timezone": "America/New_York", "language": "English", "calls_direction": "make", "speech_speed": 0.95},
    ),
    (
        {"dryRun": True, "maxDurationSeconds": 300},
        {"dry_run": True, "max_call_duration": 300},
    ),
]
for args, suggested in MULTI:
    repair(args, suggested, "several mistakes, each with one reading")

# --- ambiguous: several readings, candidates and no suggestion -------------------------------
AMBIG = [
    ({"max_call_duration": 10}, "max_call_duration", [600], "10 s (below 20) or 10 minutes"),
    ({"max_call_duration": 5}, "max_call_duration", [300], "5 s or 5 minutes"),
    ({"max_call_duration": 15}, "max_call_duration", [900], "15 s or 15 minutes"),
    ({"max_call_duration": 30000}, "max_call_duration", [30], "30000 ms or as long as allowed"),
    ({"max_call_duration": 0}, "max_call_duration", [1200], "0 may mean no limit"),
    ({"max_call_duration": -1}, "max_call_duration", [1200], "-1 may mean no limit"),
    ({"max_call_duration": 3600}, "max_call_duration", [1200], "an hour is over the maximum"),
    ({"max_call_duration": "unlimited"}, "max_call_duration", [1200], "no limit cannot be said"),
    ({"max_silence_duration": 0}, "max_silence_duration", [120], "0 may mean never"),
    ({"max_silence_duration": 300}, "max_silence_duration", [120], "300 s over the maximum"),
    ({"max_silence_duration": 30000}, "max_silence_duration", [30], "30000 ms"),
    ({"re_engagement_interval": 5}, "re_engagement_interval", [300, 7], "5 s or 5 minutes"),
    ({"re_engagement_interval": 0}, "re_engagement_interval", [600], "0 may mean never"),
    ({"re_engagement_interval": 15000}, "re_engagement_interval", [15], "15000 ms"),
    ({"voice_stability": 80}, "voice_stability", [0.8, 1], "80 percent or as high as it goes"),
    ({"voice_similarity": 75}, "voice_similarity", [0.75], "75 percent"),
    ({"ambient_sound_volume": 50}, "ambient_sound_volume", [0.5], "50 percent"),
    ({"llm_temperature": 1.5}, "llm_temperature", [0.75, 1], "a 0–2 temperature"),
    ({"llm_temperature": 70}, "llm_temperature", [0.7], "70 percent"),
    ({"voice_stability": 7}, "voice_stability", [0.7], "a 0–10 scale"),
    ({"speech_speed": 110}, "speech_speed", [1.1], "110 percent or as fast as allowed"),
    ({"speech_speed": 2}, "speech_speed", [1.2], "twice as fast is not allowed"),
    ({"speech_speed": 0.5}, "speech_speed", [0.7], "half speed is not allowed"),
    ({"speech_speed": "fast"}, "speech_speed", [1.2], "no amount given"),
    ({"speech_speed": "slower"}, "speech_speed", [0.9], "no amount given"),
    ({"endpoint_sensitivity": 8}, "endpoint_sensitivity", [4, 5], "a 0–10 scale"),
    ({"interrupt_sensitivity": 60}, "interrupt_sensitivity", [3], "percent of the scale"),
    ({"min_interrupt_words": 20}, "min_interrupt_words", [10], "over the maximum"),
    ({"min_interrupt_words": 2.5}, "min_interrupt_words", [2, 3], "half a word"),
    ({"timezone": "EST"}, "timezone", ["America/New_York", "Etc/GMT+5"], "EST: New York or fixed UTC-5"),
    ({"timezone": "PST"}, "timezone", ["America/Los_Angeles"], "PST: Los Angeles or fixed"),
    ({"timezone": "CST"}, "timezone", ["America/Chicago", "Asia/Shanghai"], "CST: three meanings"),
    ({"timezone": "AST"}, "timezone", ["Asia/Riyadh", "America/Halifax"], "Arabia or Atlantic"),
    ({"timezone": "IST"}, "timezone", ["Asia/Kolkata"], "India, Israel or Ireland"),
    ({"timezone": "GST"}, "timezone", ["Asia/Dubai"], "Gulf or South Georgia"),
    ({"timezone": "US"}, "timezone", ["America/New_York"], "a country of several zones"),
    ({"timezone": "UTC+5:30"}, "timezone", ["Asia/Kolkata"], "no Etc zone for half hours"),
    ({"timezone": "CET"}, "timezone", ["Europe/Paris"], "legacy zone read as Central Europe"),
    ({"language": "Arabic, English"}, "language", ["Arabic", "English"], "two languages for one field"),
    ({"language": "Arabic and English"}, "language", ["Arabic", "English"], "two languages"),
    ({"language": ["Arabic", "English"]}, "language", ["Arabic", "English"], "a list of two"),
    ({"voice_id": 2, "engine_type": "multimodal"}, "voice_id", [7], "a pipeline voice on a multimodal engine"),
    ({"voice_id": "Layla", "engine_type": "multimodal"}, "voice_id", [7], "Layla is pipeline; Layla Realtime?"),
    ({"voice_id": "Laila"}, "voice_id", [2], "a name close to Layla"),
    ({"max_duration": 10}, "max_call_duration", [600], "renamed, and 10 is ambiguous"),
    ({"speed": 150}, "speech_speed", [1.2], "renamed, 150 percent not allowed"),
    ({"max_call_duration": "30 minutes"}, "max_call_duration", [1200], "30 minutes over the maximum"),
    ({"voice_stability": "150%"}, "voice_stability", [1], "over 100 percent"),
    ({"allow_interruptions": None}, "allow_interruptions", [False], "null may mean off"),
]
for args, field, includes, note in AMBIG:
    ambiguous(args, field, note, includes)

# --- refuse: no reading the server may choose -----------------------------------------------
refuse({}, "nothing to change")
refuse({"dry_run": True}, "nothing to change but a preview")
refuse({"speech_speed": 0.9}, "no id", aid=None)
refuse({"id": 0, "speech_speed": 0.9}, "id 0")
refuse({"id": -3, "record_call": True}, "negative id")
refuse({"assistant_name": ""}, "empty name")
refuse({"assistant_name": "x" * 256}, "name too long: never truncated")
refuse({"end_call_tool": {"description": "y" * 501}}, "description too long")
refuse({"language": "z" * 101}, "language too long")
refuse({"llm_model": "GPT-5"}, "a model the account does not offer: never swapped")
refuse({"llm_model": "claude-3-opus"}, "another vendor's model")
refuse({"llm_model": "gpt-4"}, "GPT-4 is not GPT-4o")
refuse({"language": "Klingon"}, "no such language")
refuse({"language": "Japanese"}, "a real language the account lacks")
refuse({"voice_id": 99}, "no such voice")
refuse({"voice_id": 4}, "a multimodal voice on a pipeline assistant, no similar name")
refuse({"voice_id": "Sarah", "engine_type": "multimodal"}, "Sarah is pipeline only")
refuse({"voice_id": "Morgan Freeman"}, "no such voice name")
refuse({"phone_number_id": 201}, "another account's number id")
refuse({"phone_number_id": "+14155550100"}, "another account's number")
refuse({"phone_number_id": "+1 212 555 0199"}, "a number nobody has here")
refuse({"is_webhook_active": True, "webhook_url": None}, "enable with null: never reversed")
refuse({"is_webhook_active": True, "webhook_url": "null"}, "enable and remove: never reversed")
refuse({"webhook_url": "ftp://files.example.com"}, "not http(s)")
refuse({"webhook_url": "https://"}, "no host")
refuse({"webhook_url": "my webhook"}, "not a URL at all, never https://my webhook")
refuse({"speed": 0.9, "speech_speed": 1.1}, "two values for one field")
refuse({"temperature": 0.2, "llm_temperature": 0.8}, "two values for one field")
refuse({"voice_speed": 0.8, "speaking_rate": 0.9}, "two synonyms, two values")
refuse({"background_track": "office"}, "a Bland field with no counterpart")
refuse({"voicemail_message": "Please call back"}, "a Vapi field with no counterpart")
refuse({"timezone": "Mars/Base"}, "no such zone")
refuse({"timezone": "UTC+15"}, "no such offset")
refuse({"post_call_schema": [{"name": "score"}]}, "entry lacks type and description")
refuse({"post_call_schema": {"score": "number"}}, "a map with no descriptions")
refuse({"post_call_schema": [{"name": "x", "type": "date", "description": "When"}]}, "a type the API lacks")
refuse({"calls_direction": "both"}, "no such direction")
refuse({"engine_type": "hybrid"}, "no such engine")
refuse({"who_speaks_first": "whoever"}, "no such choice")
refuse({"variables": "just some text"}, "not a map")
refuse({"initial_message": ["Hi", "Hello"]}, "two messages: never picked")
refuse({"system_prompt": 42}, "not text")
refuse({"record_call": "maybe"}, "not a boolean")
refuse({"llm_temperature": True}, "a boolean for a number")
refuse({"max_call_duration": "a while"}, "no amount")


# --- issue 16: the kinds of mistake the first vocabulary had no rule for (written before the rules) ---
# Durations as ISO 8601 or clock text. hh:mm:ss has one reading; mm:ss or hh:mm (two parts) has two.
for field, value, fixed in [
    ("max_call_duration", "PT10M", 600),
    ("max_call_duration", "PT2M30S", 150),
    ("max_call_duration", "pt8m", 480),
    ("max_call_duration", "PT600S", 600),
    ("max_call_duration", "P0DT0H4M", 240),
    ("max_silence_duration", "PT30S", 30),
    ("max_silence_duration", "PT1M", 60),
    ("re_engagement_interval", "PT45S", 45),
    ("re_engagement_interval", "PT0.5M", 30),
    ("max_call_duration", "00:07:30", 450),
    ("max_call_duration", "0:15:00", 900),
    ("max_silence_duration", "00:00:25", 25),
    ("re_engagement_interval", "00:01:00", 60),
    ("max_call_duration", "10:00 min", 600),
    ("max_silence_duration", "0:45 min", 45),
]:
    repair({field: value}, {field: fixed}, f"a duration written {value!r}")
repair({"maxDurationSeconds": "PT12M"}, {"max_call_duration": 720}, "ISO duration under another name")
repair({"silence_timeout": "00:00:20"}, {"max_silence_duration": 20}, "clock text under another name")
for field, value, includes, note in [
    ("max_call_duration", "05:00", [300], "mm:ss (5 min) or hh:mm (5 h)"),
    ("max_call_duration", "7:30", [450], "mm:ss or hh:mm"),
    ("max_silence_duration", "00:45", [45], "mm:ss (45 s) or hh:mm (45 min)"),
    ("re_engagement_interval", "2:00", [120], "mm:ss or hh:mm"),
    ("max_call_duration", "PT2H", [1200], "two hours is over the maximum"),
    ("max_call_duration", "01:00:00", [1200], "an hour is over the maximum"),
    ("max_call_duration", "P1M", [60], "P1M is a month in ISO 8601; PT1M is a minute"),
    ("max_silence_duration", "PT0S", [120], "zero may mean never"),
]:
    ambiguous({field: value}, field, note, includes)
refuse({"max_call_duration": "PT"}, "an ISO duration with no amount")
refuse({"max_call_duration": "10:75"}, "not a clock reading")

# Nested fields written flat or dotted.
repair(
    {"end_call_tool.description": "When the caller says goodbye"},
    {"end_call_tool": {"description": "When the caller says goodbye"}},
    "a nested field dotted",
)
repair(
    {"end_call_tool_description": "After the order is placed"},
    {"end_call_tool": {"description": "After the order is placed"}},
    "a nested field flat",
)
repair(
    {"endCallTool": {"desc": "After goodbye"}},
    {"end_call_tool": {"description": "After goodbye"}},
    "camelCase object with a synonym inside",
)
repair(
    {"end_call_tool.desc": "After the caller thanks you"},
    {"end_call_tool": {"description": "After the caller thanks you"}},
    "dotted, with a synonym for the nested name",
)
refuse({"end_call_tool.name": "hang_up"}, "end_call_tool has no name")
refuse(
    {"end_call_tool": {"description": "A"}, "end_call_tool.description": "B"},
    "two values for one nested field",
)
# Other platforms' settings written as their nested paths, dotted or as objects.
for given, fixed, note in [
    ({"voice.speed": 0.9}, {"speech_speed": 0.9}, "Vapi's voice.speed"),
    ({"voice.voiceId": 3}, {"voice_id": 3}, "Vapi's voice.voiceId"),
    ({"model.temperature": 0.4}, {"llm_temperature": 0.4}, "Vapi's model.temperature"),
    ({"transcriber.language": "ar"}, {"language": "Arabic"}, "Vapi's transcriber.language"),
    ({"stopSpeakingPlan.numWords": 3}, {"min_interrupt_words": 3}, "Vapi's stopSpeakingPlan.numWords"),
    ({"artifactPlan.recordingEnabled": True}, {"record_call": True}, "Vapi's artifactPlan.recordingEnabled"),
    ({"messagePlan.idleTimeoutSeconds": 20}, {"re_engagement_interval": 20}, "Vapi's idle message timer"),
    (
        {"conversation_config.agent.first_message": "Hello from Acme"},
        {"initial_message": "Hello from Acme"},
        "ElevenLabs' nested first message",
    ),
    ({"conversation_config.tts.stability": 0.45}, {"voice_stability": 0.45}, "ElevenLabs' tts.stability"),
    (
        {"conversation_config.conversation.max_duration_seconds": 900},
        {"max_call_duration": 900},
        "ElevenLabs' max duration",
    ),
    ({"voice": {"voiceId": 6, "speed": 1.1}}, {"voice_id": 6, "speech_speed": 1.1}, "Vapi's voice object"),
    (
        {"model": {"model": "gpt-4o", "temperature": 0.3}},
        {"llm_model": "GPT-4o", "llm_temperature": 0.3},
        "Vapi's model",
    ),
    ({"stopSpeakingPlan": {"numWords": 4}}, {"min_interrupt_words": 4}, "Vapi's stopSpeakingPlan object"),
]:
    repair(given, fixed, note)
refuse({"voice": {"provider": "11labs", "voiceId": "21m00Tcm4TlvDq8ikWAM"}}, "another platform's voice")
refuse({"model.messages": [{"role": "system", "content": "Be brief"}]}, "a message list is not a prompt")

# Whole entries pasted where an id or a name belongs.
for given, fixed, note in [
    ({"voice_id": {"id": 3, "name": "Omar", "mode": "pipeline"}}, {"voice_id": 3}, "a voice entry"),
    ({"voice_id": [{"id": 6, "name": "James", "mode": "pipeline"}]}, {"voice_id": 6}, "a list of one voice entry"),
    ({"voice_id": {"id": 2}}, {"voice_id": 2}, "an object with only its id"),
    ({"voice": {"id": 1, "name": "Sarah"}}, {"voice_id": 1}, "a voice entry under another name"),
    (
        {"phone_number_id": {"id": 104, "phone_number": "+442071234567", "type_label": "outbound"}},
        {"phone_number_id": 104},
        "a phone number entry",
    ),
    ({"language": {"id": 8, "name": "Arabic", "iso_2": "ar"}}, {"language": "Arabic"}, "a language entry"),
    ({"llm_model": {"id": 3, "name": "GPT-4.1"}}, {"llm_model": "GPT-4.1"}, "a model entry"),
    ({"language": {"name": "French"}}, {"language": "French"}, "an object with only its name"),
]:
    repair(given, fixed, note)
corpus.cases.append(
    {
        "category": "repair",
        "args": {"id": {"id": 16, "name": "London Bookings", "status": "active"}, "record_call": False},
        "suggested": {"id": 16, "record_call": False},
        "note": "the assistant's list row pasted as its id",
    }
)
ambiguous({"voice_id": {"id": 1, "name": "Omar"}}, "voice_id", "the id and the name disagree", [1, 3])
ambiguous({"language": {"id": 1, "name": "Arabic"}}, "language", "the id and the name disagree", ["English", "Arabic"])
refuse({"voice_id": {"name": "Morgan", "provider": "elevenlabs"}}, "no such voice, no id")
refuse({"voice_id": [{"id": 1}, {"id": 2}]}, "two voices: never picked")
refuse({"phone_number_id": {"id": 201, "phone_number": "+14155550100"}}, "another account's number entry")

# References by the lookup list's id where the API wants the name; dated model names.
for given, fixed, note in [
    ({"language": 8}, {"language": "Arabic"}, "the language list's id"),
    ({"language": 2}, {"language": "French"}, "the language list's id"),
    ({"language": "4"}, {"language": "German"}, "the language list's id as a string"),
    ({"llm_model": 2}, {"llm_model": "GPT-4o"}, "the model list's id"),
    ({"llm_model": "5"}, {"llm_model": "Gemini 2.0 Flash"}, "the model list's id as a string"),
    ({"llm_model": "gpt-4o-mini-2024-07-18"}, {"llm_model": "GPT-4o-mini"}, "a dated model name"),
    ({"llm_model": "gpt-4o-2024-08-06"}, {"llm_model": "GPT-4o"}, "a dated model name"),
    ({"llm_model": "gpt-4.1-2025-04-14"}, {"llm_model": "GPT-4.1"}, "a dated model name"),
    ({"llm_model": "openai/gpt-4.1-mini-2025-04-14"}, {"llm_model": "GPT-4.1-mini"}, "provider and date"),
    ({"llm_model": "gemini-2.0-flash-001"}, {"llm_model": "Gemini 2.0 Flash"}, "a versioned model name"),
    ({"model": "GPT-4o-mini-20240718"}, {"llm_model": "GPT-4o-mini"}, "a date without dashes"),
]:
    repair(given, fixed, note)
refuse({"language": 99}, "no language has this id")
refuse({"llm_model": 9}, "no model has this id")
refuse({"llm_model": "gpt-4o-realtime-preview-2024-12-17"}, "another model, dated")
refuse({"llm_model": "gpt-4o-mini-tts"}, "another model with a matching prefix")
refuse({"llm_model": "gemini-2.0-flash-lite-001"}, "another model, versioned")
refuse({"llm_model": "gpt-4-0613"}, "GPT-4 is not offered, dated or not")

# Plain type slips.
for field, value, fixed in [
    ("llm_temperature", ".25", 0.25),
    ("speech_speed", ".9", 0.9),
    ("voice_stability", "0.50", 0.5),
    ("interrupt_sensitivity", "+2", 2),
    ("min_interrupt_words", "3.0", 3),
    ("max_call_duration", "600.0", 600),
    ("assistant_name", 2025, "2025"),
    ("assistant_name", 7.5, "7.5"),
    ("allow_interruptions", "True.", True),
    ("record_call", " yes ", True),
    ("filler_audios", "1.0", True),
    ("end_call_on_voicemail", 1.0, True),
]:
    repair({field: value}, {field: fixed}, f"a type slip: {value!r}")
repair(
    {"post_call_schema": [{"name": 2025, "type": "string", "description": "Year"}]},
    {"post_call_schema": [{"name": "2025", "type": "string", "description": "Year"}]},
    "a number for a post-call field's name",
)
refuse({"assistant_name": True}, "a boolean is not a name")
refuse({"initial_message": 2025}, "a number is not a greeting")
refuse({"end_call_tool": True}, "a switch is not the tool's description")
refuse({"end_call_tool": "true"}, "the word true is not the tool's description")

# Other voice platforms' names for the same settings.
for given, fixed, note in [
    ({"block_interruptions": True}, {"allow_interruptions": False}, "Bland: blocking is not allowing"),
    ({"blockInterruptions": False}, {"allow_interruptions": True}, "Bland, camelCase"),
    ({"disable_interruptions": "yes"}, {"allow_interruptions": False}, "a disable_ switch"),
    ({"interruptions_disabled": False}, {"allow_interruptions": True}, "a _disabled switch"),
    ({"disable_fillers": True}, {"filler_audios": False}, "a disable_ switch"),
    ({"no_recording": True}, {"record_call": False}, "a no_ switch"),
    ({"numWordsToInterruptAssistant": 2}, {"min_interrupt_words": 2}, "Vapi's older name"),
    ({"interruption_min_words": 4}, {"min_interrupt_words": 4}, "minimum words"),
    ({"min_words_to_interrupt": 3}, {"min_interrupt_words": 3}, "minimum words"),
    ({"silenceTimeoutSeconds": "45"}, {"max_silence_duration": 45}, "Vapi's silence timeout"),
    ({"silence_end_call_timeout": 40}, {"max_silence_duration": 40}, "ElevenLabs' silence timeout"),
    ({"turn_timeout": 12}, {"re_engagement_interval": 12}, "ElevenLabs' turn timeout re-engages"),
    ({"reminderTriggerMs": 20000}, {"re_engagement_interval": 20}, "Retell, camelCase ms"),
    ({"first_message": "مرحبا"}, {"initial_message": "مرحبا"}, "ElevenLabs' first message"),
    ({"firstSentence": "Hi!"}, {"initial_message": "Hi!"}, "Bland, camelCase"),
    ({"recordingEnabled": True}, {"record_call": True}, "Vapi's recording"),
    ({"record": "yes"}, {"record_call": True}, "Bland's recording"),
    ({"wait_for_greeting": True}, {"who_speaks_first": "Customer"}, "Bland: wait for the greeting"),
    ({"wait_for_greeting": False}, {"who_speaks_first": "AI assistant"}, "Bland: speak first"),
    ({"start_speaker": "agent"}, {"who_speaks_first": "AI assistant"}, "Retell's start speaker"),
    ({"firstMessageMode": "assistant-speaks-first"}, {"who_speaks_first": "AI assistant"}, "Vapi's mode"),
    ({"enable_backchannel": True}, None, ""),
]:
    if fixed is None:
        continue
    repair(given, fixed, note)
ambiguous({"idle_timeout": 20}, "idle_timeout", "hang up after silence, or speak again?", [20])
ambiguous({"responsiveness": 0.8}, "endpoint_sensitivity", "Retell's 0–1 scale or this API's 0–5", [0.8, 4])
ambiguous(
    {"interruption_sensitivity": 0.5}, "interrupt_sensitivity", "Retell's 0–1 scale or this API's 0–5", [0.5, 2.5]
)
refuse({"enable_backchannel": True}, "Retell's backchannel has no counterpart")
refuse({"endCallFunctionEnabled": True}, "the end-call tool needs its description")
refuse({"hipaaEnabled": True}, "no counterpart")
refuse({"block_interruptions": "sometimes"}, "not a switch value")
refuse({"block_interruptions": True, "allow_interruptions": True}, "two values for one field, one negated")

# A proposal refused whole still names the fix of its fixable part.
refuse({"speed": "0.9x", "transfer_to": "+966501234567"}, "one fixable, one unknown", fixes={"speech_speed": 0.9})
refuse(
    {"max_call_duration": "PT10M", "backgroundSound": "office"},
    "an ISO duration beside an unknown field",
    fixes={"max_call_duration": 600},
)
refuse(
    {"language": "ar", "voice_id": 99, "timezone": "Riyadh"},
    "two fixable beside an unknown voice",
    fixes={"language": "Arabic", "timezone": "Asia/Riyadh"},
)

# URLs checked as URLs: placeholders and characters a URL cannot hold have no reading.
for value, fixed, note in [
    ("<https://hooks.example.com/calls>", "https://hooks.example.com/calls", "angle brackets around the URL"),
    ('"https://hooks.example.com/calls"', "https://hooks.example.com/calls", "quotes around the URL"),
    ("HTTPS://hooks.example.com/calls", "https://hooks.example.com/calls", "the scheme in capitals"),
    ("https//hooks.example.com/calls", "https://hooks.example.com/calls", "a colon missing"),
    ("[hook](https://hooks.example.com/md)", "https://hooks.example.com/md", "a Markdown link"),
]:
    repair({"webhook_url": value}, {"webhook_url": fixed}, note)
for value, note in [
    ("https://<your-webhook-url>", "a template placeholder"),
    ("https://YOUR_WEBHOOK_URL", "a placeholder in capitals"),
    ("https://{{webhook_host}}/calls", "a template variable"),
    ("https://hooks.example.com/calls/{assistant_id}", "a template variable in the path"),
    ("https://hooks.example.com/x?token=<TOKEN>", "a placeholder in the query"),
    ("https://hooks example.com/x", "a space in the host"),
    ("https://hooks.example.com/a|b", "a character a URL cannot hold"),
    ("https://-bad-.example.com/", "not a host name"),
    ("https://hooks.example.com/a, https://b.example.com/b", "two URLs"),
    ("https://[insert-url-here]", "a placeholder in brackets"),
]:
    refuse({"webhook_url": value}, note)
refuse({"is_webhook_active": True, "webhook_url": "https://<webhook>"}, "enabled with a placeholder")

# An assistant the account does not have: refused unsent (with its ids nearby, when the list is known).
refuse({"speech_speed": 0.9}, "no such assistant", aid=99)
refuse({"record_call": True}, "another account's assistant", aid=21)
refuse({"assistant_name": "X"}, "no such assistant", aid=120000)

# Valid proposals that look like these mistakes: text holding durations, URLs with odd but legal parts.
valid({"initial_message": "Our hours are 09:00 to 17:00, PT10M wait times."}, "text is text")
valid({"webhook_url": "https://hooks.example.com/a_b/c-d/~e?x=1&y=%20#f"}, "every legal URL character")
valid({"webhook_url": "http://localhost:8080/hook"}, "a local URL with a port")
valid({"webhook_url": "https://user:pass@hooks.example.com/h"}, "credentials in a URL")
valid({"variables": {"duration": "PT10M", "voice": {"id": 3}}}, "variables hold anything")
valid({"assistant_name": "2025"}, "a name of digits, as a string")
valid({"end_call_tool": {"description": "true"}}, "the word true as a description")


# --- found by probing after the rules above, added with the general rule each prompted ----------
repair({"max_call_duration": "15 minutes."}, {"max_call_duration": 900}, "a sentence's full stop")
repair({"timezone": "Riyadh time"}, {"timezone": "Asia/Riyadh"}, "a zone with 'time' after it")
repair({"timezone": "Asia/Dubai (GMT+4)"}, {"timezone": "Asia/Dubai"}, "an offset in parentheses that agrees")
repair({"timezone": "Arabia Standard Time"}, {"timezone": "Asia/Riyadh"}, "a zone written out")
repair({"timezone": "Egypt Standard Time"}, {"timezone": "Africa/Cairo"}, "a Windows zone id")
ambiguous({"timezone": "Asia/Riyadh (GMT+5)"}, "timezone", "parentheses that disagree", ["Asia/Riyadh"])
ambiguous({"timezone": "Eastern Standard Time"}, "timezone", "EST written out", ["America/New_York"])
repair(
    {"model": {"model": "gpt-4o-mini-2024-07-18", "temperature": 0.2}},
    {"llm_model": "GPT-4o-mini", "llm_temperature": 0.2},
    "Vapi's model object with a dated model",
)
refuse(
    {"model": {"provider": "openai", "model": "gpt-4o"}},
    "a settings object with a key that is no setting here: told, not dropped",
    fixes={"llm_model": "GPT-4o"},
)
refuse({"voice": {"voiceId": 1, "provider": "sondos"}}, "a voice object with a provider")
refuse({"metadata": {"language": "ar"}}, "the caller's data, not settings")
refuse({"transcriber": {"model": "nova-2"}}, "a transcriber's model is no LLM")
refuse({"webhook_url": "https://your-domain.com/webhook"}, "a placeholder domain")
refuse({"webhook_url": "https://webhook.site/your-unique-id"}, "a placeholder path")
valid({"webhook_url": "https://yourstore.example.com/hooks"}, "a real name that starts with your")
repair(
    {"structuredDataSchema": {"type": "object", "properties": {"paid": {"type": "boolean", "description": "Paid?"}}}},
    {"post_call_schema": [{"name": "paid", "type": "bool", "description": "Paid?"}]},
    "Vapi's structured-data schema as post-call entries",
)


if __name__ == "__main__":
    corpus.write(Path(__file__).with_name("repair.jsonl"))
