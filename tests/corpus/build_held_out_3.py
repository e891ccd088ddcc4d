"""Writes `held_out_3.jsonl`: a second held-out set, written after the fixes prompted by the first
two held-out runs, and run once as written. Same categories and context as `build_corpus.py`.
"""

from __future__ import annotations

from pathlib import Path

from tests.corpus.cases import Corpus

corpus = Corpus()
valid, repair, ambiguous, refuse = corpus.valid, corpus.repair, corpus.ambiguous, corpus.refuse

valid({"id": 16, "is_webhook_active": False, "webhook_url": None})
valid({"id": 12, "voice_id": 1, "speech_speed": 1, "voice_stability": 0.5})
valid({"id": 14, "timezone": "Asia/Dubai", "who_speaks_first": "Customer"})
valid({"id": 12, "variables": {"nested": {"a": 1}}})
valid({"id": 12, "initial_message": "Hi {{name}}, this is Acme."})

for args, fixed in [
    ({"maxDuration": 600}, {"max_call_duration": 600}),
    ({"max_call_duration_secs": 300}, {"max_call_duration": 300}),
    ({"silence_timeout_ms": 15000}, {"max_silence_duration": 15}),
    ({"interruptionThreshold": 3}, {"interrupt_sensitivity": 3}),
    ({"temperature": "0.3"}, {"llm_temperature": 0.3}),
    ({"voice_speed": "110 %"}, {"speech_speed": 1.1}),
    ({"speech_speed": 1.2000001}, {"speech_speed": 1.2}),
    ({"record_call": "Yes"}, {"record_call": True}),
    ({"calls_direction": "Outgoing"}, {"calls_direction": "make"}),
    ({"engine_type": "Multi-modal", "voice_id": 4}, {"engine_type": "multimodal", "voice_id": 4}),
    ({"who_speaks_first": "AI Assistant"}, {"who_speaks_first": "AI assistant"}),
    ({"timezone": "Dubai, UAE"}, {"timezone": "Asia/Dubai"}),
    ({"timezone": "UTC+2"}, {"timezone": "Etc/GMT-2"}),
    ({"timezone": "America/New York"}, {"timezone": "America/New_York"}),
    ({"language": "turkish"}, {"language": "Turkish"}),
    ({"language": "es-MX"}, {"language": "Spanish"}),
    ({"llm_model": "GPT-4O"}, {"llm_model": "GPT-4o"}),
    ({"voice_id": "layla"}, {"voice_id": 2}),
    ({"phone_number_id": "+44 (20) 7123-4567"}, {"phone_number_id": 104}),
    ({"webhookURL": "https://a.example.com/h"}, {"webhook_url": "https://a.example.com/h"}),
    (
        {"post_call_schema": [{"name": "budget", "type": "Number", "description": "Budget"}]},
        {"post_call_schema": [{"name": "budget", "type": "number", "description": "Budget"}]},
    ),
    (
        {"variables": {"city": "Riyadh"}, "end_call_tool": {"description": "Bye"}, "max_silence_duration": "20 s"},
        {"variables": {"city": "Riyadh"}, "end_call_tool": {"description": "Bye"}, "max_silence_duration": 20},
    ),
    ({"ambient_sound_volume": "0"}, {"ambient_sound_volume": 0}),
    ({"filler_audios": "disabled"}, {"filler_audios": False}),
    ({"endpoint_sensitivity": "2.5"}, {"endpoint_sensitivity": 2.5}),
]:
    repair({"id": 12} | args, {"id": 12} | fixed)
repair({"assistantID": 12, "record": False}, {"id": 12, "record_call": False})

ambiguous({"id": 12, "max_call_duration": 2}, "max_call_duration", includes=[120])
ambiguous({"id": 12, "ambient_sound_volume": 30}, "ambient_sound_volume", includes=[0.3])
ambiguous({"id": 12, "timezone": "IST"}, "timezone", includes=["Asia/Kolkata"])
ambiguous({"id": 12, "max_silence_duration": -1}, "max_silence_duration", includes=[120])
ambiguous({"id": 12, "language": "English & Arabic"}, "language", includes=["English", "Arabic"])
ambiguous({"id": 12, "voice_id": "Layla", "mode": "multimodal"}, "voice_id", includes=[7])

refuse({"id": 12, "llm_model": "o1-preview"})
refuse({"id": 12, "phone_number_id": "+966 55 000 0000"})
refuse({"id": 12, "voice_id": 5})
refuse({"id": 12, "webhook_url": "null", "webhook_enabled": True})
refuse({"id": 12, "transfer_to": "+966501234567"})
refuse({"id": 12, "assistant_name": "A" * 300})

if __name__ == "__main__":
    corpus.write(Path(__file__).with_name("held_out_3.jsonl"))
