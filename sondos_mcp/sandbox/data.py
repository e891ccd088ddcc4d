"""The sandbox's seeded demo data, in the API's stored shape."""

from __future__ import annotations

from typing import Any

from sondos_mcp import vocabulary

DEMO_KEY = "1|sandbox-demo-key"
OTHER_KEY = "2|sandbox-other-team-key"

# Stored-shape names of the update fields that are not stored under their own name.
STORED_NAME = vocabulary.STORED_NAME
LIST_FIELDS = [
    "id",
    "name",
    "status",
    "type",
    "mode",
    "phone_number_id",
    "voice_id",
    "language",
    "variables",
    "post_call_evaluation",
    "fillers",
    "post_call_schema",
    "is_webhook_active",
    "webhook_url",
    "max_duration",
    "record",
    "initial_message",
    "system_prompt",
    "timezone",
    "max_silence_duration",
    "reengagement_interval",
    "created_at",
    "updated_at",
]


def _assistant(id_: int, user: int, name: str, type_: str, mode: str, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": id_,
        "user_id": user,
        "name": name,
        "status": "active",
        "type": type_,
        "mode": mode,
        "phone_number_id": None,
        "voice_id": 1 if mode == "pipeline" else 4,
        "language": "Arabic",
        "llm_model": "GPT-4o-mini",
        "variables": {},
        "post_call_evaluation": 0,
        "fillers": 1,
        "post_call_schema": [],
        "is_webhook_active": 0,
        "webhook_url": None,
        "max_duration": 600,
        "record": 1,
        "initial_message": f"Hello, this is {name}. How can I help?",
        "system_prompt": f"You are {name}, a helpful voice assistant.",
        "timezone": "Asia/Riyadh",
        "max_silence_duration": 30,
        "reengagement_interval": 60,
        "speech_speed": 1.0,
        "allow_interruptions": True,
        "created_at": "2026-01-05T09:00:00.000000Z",
        "updated_at": "2026-01-05T09:00:00.000000Z",
    }
    record.update(extra)
    return record


def seed_assistants() -> dict[int, dict[str, Any]]:
    rows = [
        _assistant(12, 1, "Riyadh Sales", "outbound", "pipeline", phone_number_id=102, voice_id=2),
        _assistant(13, 1, "Jeddah Support", "inbound", "multimodal", phone_number_id=101),
        _assistant(
            14,
            1,
            "Dubai Concierge",
            "inbound",
            "pipeline",
            language="English",
            timezone="Asia/Dubai",
            voice_id=6,
        ),
        _assistant(15, 1, "Cairo Collections", "outbound", "multimodal", timezone="Africa/Cairo", status="inactive"),
        _assistant(
            16,
            1,
            "London Bookings",
            "inbound",
            "pipeline",
            language="English",
            timezone="Europe/London",
            voice_id=6,
            is_webhook_active=1,
            webhook_url="https://hooks.example.com/bookings",
        ),
        _assistant(21, 2, "Other Team Receptionist", "inbound", "pipeline", language="English"),
    ]
    # Enough filler to page through: a list of 40 is what a busy account looks like.
    rows += [
        _assistant(
            100 + i,
            1,
            f"Campaign Agent {i:02d}",
            "outbound" if i % 2 else "inbound",
            "pipeline" if i % 3 else "multimodal",
        )
        for i in range(1, 35)
    ]
    return {row["id"]: row for row in rows}


VOICES = [
    {"id": 1, "name": "Sarah", "mode": "pipeline"},
    {"id": 2, "name": "Layla", "mode": "pipeline"},
    {"id": 3, "name": "Omar", "mode": "pipeline"},
    {"id": 4, "name": "Noura", "mode": "multimodal"},
    {"id": 5, "name": "Khalid", "mode": "multimodal"},
    {"id": 6, "name": "James", "mode": "pipeline", "languages": ["English"]},  # one that lists its languages
    {"id": 7, "name": "Layla Realtime", "mode": "multimodal"},
]
LANGUAGES = [
    {"id": 8, "name": "Arabic", "iso_2": "ar"},
    {"id": 1, "name": "English", "iso_2": "en"},
    {"id": 2, "name": "French", "iso_2": "fr"},
    {"id": 3, "name": "Spanish", "iso_2": "es"},
    {"id": 4, "name": "German", "iso_2": "de"},
    {"id": 5, "name": "Turkish", "iso_2": "tr"},
    {"id": 6, "name": "Urdu", "iso_2": "ur"},
    {"id": 7, "name": "Hindi", "iso_2": "hi"},
]
MODELS = [
    {"id": 1, "name": "GPT-4o-mini"},
    {"id": 2, "name": "GPT-4o"},
    {"id": 3, "name": "GPT-4.1"},
    {"id": 4, "name": "GPT-4.1-mini"},
    {"id": 5, "name": "Gemini 2.0 Flash"},
]
PHONE_NUMBERS = {
    1: [
        {
            "id": 101,
            "phone_number": "+966112345678",
            "country_code": "SA",
            "type_label": "inbound",
            "is_available": False,
        },
        {
            "id": 102,
            "phone_number": "+966501234567",
            "country_code": "SA",
            "type_label": "outbound",
            "is_available": False,
        },
        {
            "id": 103,
            "phone_number": "+97144556677",
            "country_code": "AE",
            "type_label": "inbound",
            "is_available": True,
        },
        {
            "id": 104,
            "phone_number": "+442071234567",
            "country_code": "GB",
            "type_label": "outbound",
            "is_available": True,
        },
    ],
    2: [
        {
            "id": 201,
            "phone_number": "+14155550100",
            "country_code": "US",
            "type_label": "inbound",
            "is_available": True,
        },
    ],
}
