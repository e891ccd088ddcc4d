"""Writes `held_out_4.jsonl`: a held-out set for the kinds of mistake issue 16 names, written from
the issue and the contract before any of its rules existed, without reading the vocabulary, and run
once as written. Same categories and context as `build_corpus.py`; a refusal may also name the fixes
it must still carry for the fixable part of the proposal (`fixes`).
"""

from __future__ import annotations

from pathlib import Path

from tests.corpus.cases import Corpus

corpus = Corpus()
valid, repair, ambiguous, refuse = corpus.valid, corpus.repair, corpus.ambiguous, corpus.refuse

valid({"id": 14, "speech_speed": 0.75, "voice_id": 6})
valid({"id": 12, "webhook_url": "https://api.example.org/v1/voice/events?source=sondos", "is_webhook_active": True})
valid({"id": 13, "max_call_duration": 900, "max_silence_duration": 45, "re_engagement_interval": 30})
valid({"id": 12, "initial_message": "Use code PT10M for ten percent off", "system_prompt": "Reply within 00:30."})
valid({"id": 12, "assistant_name": "2025 Campaign"})
valid({"id": 12, "webhook_url": "https://user:secret@hooks.example.com/h"})
valid({"id": 15, "calls_direction": "make", "language": "Arabic", "llm_model": "GPT-4.1"})
valid({"id": 12, "variables": {"promo_length": "PT10M", "opens": "09:00"}})

for args, fixed in [
    # Durations as ISO 8601 or clock text with one reading.
    ({"max_call_duration": "PT15M"}, {"max_call_duration": 900}),
    ({"max_silence_duration": "PT20S"}, {"max_silence_duration": 20}),
    ({"re_engagement_interval": "PT1M"}, {"re_engagement_interval": 60}),
    ({"max_call_duration": "00:12:00"}, {"max_call_duration": 720}),
    ({"max_silence_duration": "00:00:40"}, {"max_silence_duration": 40}),
    ({"maxDuration": "PT5M"}, {"max_call_duration": 300}),
    # Nested fields written flat or dotted; other platforms' nested settings.
    (
        {"end_call_tool.description": "Hang up once the booking is confirmed"},
        {"end_call_tool": {"description": "Hang up once the booking is confirmed"}},
    ),
    (
        {"endCallToolDescription": "When the caller asks to stop"},
        {"end_call_tool": {"description": "When the caller asks to stop"}},
    ),
    ({"voice.stability": 0.6, "voice.similarityBoost": 0.8}, {"voice_stability": 0.6, "voice_similarity": 0.8}),
    ({"model.temperature": 0.2}, {"llm_temperature": 0.2}),
    ({"stopSpeakingPlan": {"numWords": 2}}, {"min_interrupt_words": 2}),
    # Whole entries pasted where an id or a name belongs; references by the lookup list's id.
    ({"voice_id": {"id": 1, "name": "Sarah", "mode": "pipeline"}}, {"voice_id": 1}),
    ({"language": {"id": 3, "name": "Spanish", "iso_2": "es"}}, {"language": "Spanish"}),
    ({"llm_model": 4}, {"llm_model": "GPT-4.1-mini"}),
    ({"language": 5}, {"language": "Turkish"}),
    ({"llm_model": "gpt-4.1-mini-2025-04-14"}, {"llm_model": "GPT-4.1-mini"}),
    ({"llm_model": "gpt-4o-2024-11-20"}, {"llm_model": "GPT-4o"}),
    # Plain type slips.
    ({"voice_similarity": ".85"}, {"voice_similarity": 0.85}),
    ({"assistant_name": 2026}, {"assistant_name": "2026"}),
    ({"min_interrupt_words": "2.0"}, {"min_interrupt_words": 2}),
    ({"noise_cancellation": "Enabled"}, {"noise_cancellation": True}),
    ({"max_call_duration": "600.0"}, {"max_call_duration": 600}),
    # Other platforms' names for the same settings.
    ({"block_interruptions": True}, {"allow_interruptions": False}),
    ({"numWordsToInterruptAssistant": 3}, {"min_interrupt_words": 3}),
    ({"silence_end_call_timeout": 25}, {"max_silence_duration": 25}),
    (
        {"firstMessage": "Hi, Acme here", "recordingEnabled": False},
        {"initial_message": "Hi, Acme here", "record_call": False},
    ),
    ({"wait_for_greeting": True}, {"who_speaks_first": "Customer"}),
    ({"turn_timeout": 15}, {"re_engagement_interval": 15}),
    (
        {"backgroundDenoisingEnabled": False, "end_call_after_silence_ms": 15000},
        {"noise_cancellation": False, "max_silence_duration": 15},
    ),
    # URLs with one reading.
    ({"webhook_url": "<https://hooks.example.com/sondos>"}, {"webhook_url": "https://hooks.example.com/sondos"}),
    ({"webhook_url": "HTTPS://hooks.example.com/Calls"}, {"webhook_url": "https://hooks.example.com/Calls"}),
    # Kinds handled before, mixed in.
    ({"timezone": "Riyadh, Saudi Arabia"}, {"timezone": "Asia/Riyadh"}),
    ({"max_call_duration": "10 min", "speech_speed": "1.1x"}, {"max_call_duration": 600, "speech_speed": 1.1}),
]:
    repair({"id": 12} | args, {"id": 12} | fixed)
repair(
    {"id": 14, "phone_number_id": {"id": 103, "phone_number": "+97144556677", "country_code": "AE"}},
    {"id": 14, "phone_number_id": 103},
)
repair({"id": {"id": 14, "name": "Dubai Concierge"}, "record_call": False}, {"id": 14, "record_call": False})

ambiguous({"id": 12, "max_call_duration": "05:00"}, "max_call_duration", includes=[300])
ambiguous({"id": 12, "max_silence_duration": "1:30"}, "max_silence_duration", includes=[90])
ambiguous({"id": 12, "max_call_duration": "PT1H"}, "max_call_duration", includes=[1200])
ambiguous({"id": 12, "max_call_duration": "PT30M"}, "max_call_duration", includes=[1200])
ambiguous({"id": 12, "voice_id": {"id": 3, "name": "Layla"}}, "voice_id", includes=[3, 2])
ambiguous({"id": 12, "ambient_sound_volume": 40}, "ambient_sound_volume", includes=[0.4])
ambiguous({"id": 12, "speech_speed": 95}, "speech_speed", includes=[0.95])
ambiguous({"id": 12, "timezone": "ET"}, "timezone", includes=["America/New_York"])
ambiguous({"id": 12, "max_silence_duration": "PT0S"}, "max_silence_duration", includes=[120])

refuse({"id": 12, "webhook_url": "https://<your-webhook-url>"})
refuse({"id": 12, "webhook_url": "https://{{WEBHOOK_HOST}}/calls"})
refuse({"id": 12, "is_webhook_active": True, "webhook_url": "https://hooks.example.com/calls?key=<API_KEY>"})
refuse({"id": 99, "speech_speed": 0.9})
refuse({"id": 21, "record_call": True})
refuse({"id": 12, "llm_model": "gpt-4o-realtime-preview-2024-12-17"})
refuse({"id": 12, "llm_model": "gemini-2.0-flash-lite"})
refuse({"id": 12, "language": 42})
refuse({"id": 12, "speed": "0.9x", "transfer_call_enabled": True}, fixes={"speech_speed": 0.9})
refuse({"id": 12, "endCallFunctionEnabled": True})
refuse({"id": 12, "voice_id": {"name": "Rachel", "provider": "11labs"}})
refuse({"id": 12, "backgroundSound": "office"})

if __name__ == "__main__":
    corpus.write(Path(__file__).with_name("held_out_4.jsonl"))
