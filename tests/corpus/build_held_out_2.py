"""Writes `held_out_2.jsonl`: a second held-out set, written after the fixes prompted by the first
held-out run, and run once as written. Same categories and context as `build_corpus.py`.
"""

from __future__ import annotations

from pathlib import Path

from tests.corpus.cases import Corpus

corpus = Corpus()
valid, repair, ambiguous, refuse = corpus.valid, corpus.repair, corpus.ambiguous, corpus.refuse

valid({"id": 12, "timezone": "Asia/Kolkata", "language": "Hindi"})
valid({"id": 13, "engine_type": "multimodal", "voice_id": 4, "speech_speed": 0.85})
valid({"id": 12, "webhook_url": "http://10.0.0.5:8080/hook"})
valid({"id": 12, "post_call_schema": []})
valid({"id": 12, "end_call_on_voicemail": False, "noise_cancellation": False})
valid({"id": 12, "language": "Urdu", "timezone": "Asia/Karachi"})

for args, fixed in [
    ({"max_call_duration": "3 mins"}, {"max_call_duration": 180}),
    ({"max_call_duration": "90 sec"}, {"max_call_duration": 90}),
    ({"max_silence_duration": "10 seconds"}, {"max_silence_duration": 10}),
    ({"re_engagement_interval": "1 minute"}, {"re_engagement_interval": 60}),
    ({"ambient_sound_volume": "0.25"}, {"ambient_sound_volume": 0.25}),
    ({"voice_similarity": "85%"}, {"voice_similarity": 0.85}),
    ({"speech_speed": "0.9"}, {"speech_speed": 0.9}),
    ({"speech_speed": "1.0x"}, {"speech_speed": 1}),
    ({"min_interrupt_words": "five"}, {"min_interrupt_words": 5}),
    ({"calls_direction": "Inbound calls"}, {"calls_direction": "receive"}),
    ({"who_speaks_first": "Assistant"}, {"who_speaks_first": "AI assistant"}),
    ({"endpoint_type": "Ai"}, {"endpoint_type": "ai"}),
    ({"timezone": "Cairo, Egypt"}, {"timezone": "Africa/Cairo"}),
    ({"timezone": "Asia/Jeddah"}, {"timezone": "Asia/Riyadh"}),
    ({"timezone": "GMT+4"}, {"timezone": "Etc/GMT-4"}),
    ({"timezone": "Europe/london"}, {"timezone": "Europe/London"}),
    ({"language": "Arabic (Saudi Arabia)"}, {"language": "Arabic"}),
    ({"language": "ENGLISH"}, {"language": "English"}),
    ({"llm_model": "GPT 4.1"}, {"llm_model": "GPT-4.1"}),
    ({"llm_model": "gpt-4o-mini "}, {"llm_model": "GPT-4o-mini"}),
    ({"voice_id": " Sarah "}, {"voice_id": 1}),
    ({"phone_number_id": "966501234567"}, {"phone_number_id": 102}),
    ({"phone": "+971 4 455 6677"}, {"phone_number_id": 103}),
    ({"isRecordingEnabled": True}, {"record_call": True}),
    ({"backgroundDenoisingEnabled": True}, {"noise_cancellation": True}),
    ({"maxDurationSeconds": "600"}, {"max_call_duration": 600}),
    (
        {"end_call_tool": {"description": "When done"}, "allow_interruptions": "False"},
        {"end_call_tool": {"description": "When done"}, "allow_interruptions": False},
    ),
    ({"variables": [["city", "Riyadh"]]}, {"variables": {"city": "Riyadh"}}),
    (
        {"post_call_schema": [{"name": "rating", "type": "float", "description": "1-5"}]},
        {"post_call_schema": [{"name": "rating", "type": "number", "description": "1-5"}]},
    ),
    (
        {"post_call_schema": [{"field_name": "email", "type": "string", "description": "Email"}]},
        {"post_call_schema": [{"name": "email", "type": "string", "description": "Email"}]},
    ),
    ({"webhook_url": "www.example.com/hook"}, {"webhook_url": "https://www.example.com/hook"}),
    ({"dry_run": "yes", "record_call": True}, {"dry_run": True, "record_call": True}),
    ({"llm_temperature": "0,7"}, {"llm_temperature": 0.7}),
]:
    repair({"id": 12} | args, {"id": 12} | fixed)

ambiguous({"id": 12, "max_call_duration": 12}, "max_call_duration", includes=[720])
ambiguous({"id": 12, "voice_stability": 60}, "voice_stability", includes=[0.6])
ambiguous({"id": 12, "max_silence_duration": 180}, "max_silence_duration", includes=[120])
ambiguous({"id": 12, "timezone": "MST"}, "timezone", includes=["America/Denver", "America/Phoenix"])
ambiguous({"id": 12, "timezone": "Australia"}, "timezone", includes=["Australia/Sydney"])
ambiguous({"id": 12, "language": "Arabic or English"}, "language", includes=["Arabic", "English"])
ambiguous({"id": 12, "speech_speed": "slow"}, "speech_speed", includes=[0.9])
ambiguous({"id": 12, "re_engagement_interval": 3}, "re_engagement_interval", includes=[180])

refuse({"id": 12, "llm_model": "llama-3-70b"})
refuse({"id": 12, "voice_id": 42})
refuse({"id": 12, "timezone": "Atlantis"})
refuse({"id": 12, "language": ""})
refuse({"id": 12, "webhook_url": "https://hooks.example.com/a b"})
refuse({"id": 12, "assistant_name": None})
refuse({"id": 12, "calls_direction": "receive", "direction": "make"})
refuse({"id": 12, "post_call_schema": [{"name": "", "type": "string", "description": "x"}]})

if __name__ == "__main__":
    corpus.write(Path(__file__).with_name("held_out_2.jsonl"))
