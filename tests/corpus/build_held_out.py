"""Writes `held_out.jsonl`: a second, smaller set, written after the repair rules were tuned on
`repair.jsonl` and never tuned to. Same categories and context as `build_corpus.py`.
"""

from __future__ import annotations

from pathlib import Path

from tests.corpus.cases import Corpus

corpus = Corpus()
valid, repair, ambiguous, refuse = corpus.valid, corpus.repair, corpus.ambiguous, corpus.refuse

valid({"id": 14, "language": "English", "speech_speed": 1.05})
valid({"id": 16, "webhook_url": "https://hooks.example.com/bookings-v2", "is_webhook_active": True})
valid({"id": 13, "voice_id": 7})
valid({"id": 12, "max_silence_duration": 60, "re_engagement_interval": 20})
valid({"id": 12, "timezone": "Africa/Cairo", "language": "Arabic"})
valid({"id": 15, "calls_direction": "make", "who_speaks_first": "AI assistant"})
valid({"id": 12, "variables": {"agent_name": "Sara", "discount": 10}})
valid({"id": 12, "interrupt_sensitivity": 0, "endpoint_sensitivity": 0.5})
valid({"id": 12, "llm_model": "GPT-4.1-mini", "llm_temperature": 1})
valid({"id": 14, "phone_number_id": 103, "calls_direction": "receive"})
valid({"id": 12, "min_interrupt_words": 2.0})

repair({"id": 12, "maxCallDurationSeconds": 420}, {"id": 12, "max_call_duration": 420})
repair({"id": 12, "max_call_duration": "7 minutes"}, {"id": 12, "max_call_duration": 420})
repair({"id": 12, "speech_speed": "1.15"}, {"id": 12, "speech_speed": 1.15})
repair({"id": 12, "voice_stability": "0.4"}, {"id": 12, "voice_stability": 0.4})
repair({"id": 12, "ambient_sound_volume": "15 percent"}, {"id": 12, "ambient_sound_volume": 0.15})
repair({"id": 12, "callDirection": "outbound"}, {"id": 12, "calls_direction": "make"})
repair(
    {"id": 12, "engine_type": "Multimodal", "voice": "Khalid"}, {"id": 12, "engine_type": "multimodal", "voice_id": 5}
)
repair({"id": 12, "timezone": "Kuwait"}, {"id": 12, "timezone": "Asia/Kuwait"})
repair({"id": 12, "timezone": "Europe/Paris "}, {"id": 12, "timezone": "Europe/Paris"})
repair({"id": 12, "timezone": "UTC+03:00"}, {"id": 12, "timezone": "Etc/GMT-3"})
repair({"id": 12, "language": "English (US)"}, {"id": 12, "language": "English"})
repair({"id": 12, "language": "FR"}, {"id": 12, "language": "French"})
repair({"id": 12, "llm_model": "GPT4o"}, {"id": 12, "llm_model": "GPT-4o"})
repair({"id": 12, "phone_number_id": "+44 20 7123 4567"}, {"id": 12, "phone_number_id": 104})
repair({"id": 12, "recordCalls": "true"}, {"id": 12, "record_call": True})
repair({"id": 12, "enableNoiseCancellation": True}, {"id": 12, "noise_cancellation": True})
repair({"id": 12, "interruptionsEnabled": False}, {"id": 12, "allow_interruptions": False})
repair({"id": 12, "who_speaks_first": "AI"}, {"id": 12, "who_speaks_first": "AI assistant"})
repair({"id": 12, "who_speaks_first": "the customer"}, {"id": 12, "who_speaks_first": "Customer"})
repair(
    {"id": 12, "end_call_tool": {"description": "Hang up after goodbye"}, "endCallOnVoicemail": "yes"},
    {"id": 12, "end_call_tool": {"description": "Hang up after goodbye"}, "end_call_on_voicemail": True},
)
repair(
    {"id": 12, "post_call_schema": [{"name": "Appointment Date", "type": "string", "description": "Booked date"}]},
    {"id": 12, "post_call_schema": [{"name": "Appointment_Date", "type": "string", "description": "Booked date"}]},
)
repair(
    {"id": 12, "post_call_schema": [{"name": "paid", "type": "Boolean", "description": "Paid?"}]},
    {"id": 12, "post_call_schema": [{"name": "paid", "type": "bool", "description": "Paid?"}]},
)
repair({"id": 12, "variables": '{"lang": "ar"}'}, {"id": 12, "variables": {"lang": "ar"}})
repair({"id": "14", "max_silence_duration": "20s"}, {"id": 14, "max_silence_duration": 20})
repair({"id": 12, "silence_timeout_seconds": 25}, {"id": 12, "max_silence_duration": 25})
repair({"id": 12, "reengagementIntervalSeconds": 30}, {"id": 12, "re_engagement_interval": 30})
repair({"id": 12, "speech_speed": "105%"}, {"id": 12, "speech_speed": 1.05})
repair({"id": 12, "voice_similarity": "90 %"}, {"id": 12, "voice_similarity": 0.9})
repair({"id": 12, "temperature": 0.65, "model": "GPT-4o"}, {"id": 12, "llm_temperature": 0.65, "llm_model": "GPT-4o"})
repair(
    {"id": 12, "webhook_url": "https://hooks.example.com/x", "webhookActive": "true"},
    {"id": 12, "webhook_url": "https://hooks.example.com/x", "is_webhook_active": True},
)
repair(
    {"id": 12, "phone_number_id": "null", "direction": "outbound"},
    {"id": 12, "phone_number_id": None, "calls_direction": "make"},
)
repair({"id": 12, "max_call_duration": "20m"}, {"id": 12, "max_call_duration": 1200})
repair(
    {"id": 12, "language": "english", "timezone": "london"},
    {"id": 12, "language": "English", "timezone": "Europe/London"},
)
repair({"id": 12, "llm_temperature": 2}, {"id": 12, "llm_temperature": 1})

ambiguous({"id": 12, "max_call_duration": 8}, "max_call_duration", includes=[480])
ambiguous({"id": 12, "max_silence_duration": 5000}, "max_silence_duration", includes=[5])
ambiguous({"id": 12, "voice_similarity": 90}, "voice_similarity", includes=[0.9])
ambiguous({"id": 12, "speech_speed": 1.5}, "speech_speed", includes=[1.2])
ambiguous({"id": 12, "timezone": "EDT"}, "timezone", includes=["America/New_York"])
ambiguous({"id": 12, "timezone": "BST"}, "timezone", includes=["Europe/London"])
ambiguous({"id": 12, "language": "English/Arabic"}, "language", includes=["English", "Arabic"])
ambiguous({"id": 12, "re_engagement_interval": 1000}, "re_engagement_interval", includes=[600])
ambiguous({"id": 12, "max_call_duration": "half an hour"}, "max_call_duration", includes=[1200])
ambiguous({"id": 12, "voice_id": "Layla", "engine_type": "realtime"}, "voice_id", includes=[7])

refuse({"id": 12, "llm_model": "gpt-4o-realtime"})
refuse({"id": 12, "language": "Swahili"})
refuse({"id": 12, "phone_number_id": 999})
refuse({"id": 12, "voice_id": "Rachel"})
refuse({"id": 12, "webhook_url": "localhost:8080/hook"})
refuse({"id": 12, "is_webhook_active": True, "webhook_url": ""})
refuse({"id": 12, "max_call_duration": 600, "max_duration": 900})
refuse({"id": 12, "transferPhoneNumber": "+966501234567"})
refuse({"id": 12, "post_call_schema": [{"name": "score", "type": "number"}]})
refuse({"id": 12, "calls_direction": "inbound and outbound"})
refuse({"id": 12, "system_prompt": None})
refuse({"agent_id": 12, "assistant_id": 13, "speech_speed": 0.9})

if __name__ == "__main__":
    corpus.write(Path(__file__).with_name("held_out.jsonl"))
