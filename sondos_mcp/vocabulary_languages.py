"""Languages: ISO 639-1 codes, names, endonyms and locales, matched against the account's own list.

Not per field: the `language` field declares a `Reference` to the languages list, whose judge
(`sondos_mcp.references`) reads these names.
"""

from __future__ import annotations

import re

# ISO 639-1 codes with the other names agents use for the language: endonyms, 639-2 codes,
# common misspellings. Matched against the account's own list (its `iso_2` and `name`).
LANGUAGE_NAMES: dict[str, tuple[str, ...]] = {
    "ar": ("arabic", "ara", "arb", "العربية", "عربي", "arabe", "arabisch", "arabic language"),
    "en": ("english", "eng", "anglais", "englisch", "inglés", "ingles"),
    "fr": ("french", "fra", "fre", "français", "francais", "französisch"),
    "es": ("spanish", "spa", "español", "espanol", "castellano"),
    "de": ("german", "deu", "ger", "deutsch", "allemand"),
    "tr": ("turkish", "tur", "türkçe", "turkce"),
    "ur": ("urdu", "urd", "اردو"),
    "hi": ("hindi", "hin", "हिन्दी", "हिंदी"),
    "it": ("italian", "ita", "italiano"),
    "pt": ("portuguese", "por", "português", "portugues"),
    "ru": ("russian", "rus", "русский"),
    "zh": ("chinese", "zho", "chi", "mandarin", "中文"),
    "ja": ("japanese", "jpn", "日本語"),
    "fa": ("persian", "farsi", "fas", "per", "فارسی"),
}
_LANGUAGE_CODE: dict[str, str] = {alias.casefold(): code for code, al in LANGUAGE_NAMES.items() for alias in al}


def language_code(text: str) -> str | None:
    """The ISO 639-1 code a language name, code or locale ("ar-SA", "en_US", "eng") stands for."""
    t = text.strip().casefold()
    if t in _LANGUAGE_CODE:
        return _LANGUAGE_CODE[t]
    m = re.fullmatch(r"([a-z]{2,3})(?:[-_][a-z0-9]{2,4})*", t)
    if m:
        code = m.group(1)
        return code if len(code) == 2 else _LANGUAGE_CODE.get(code)
    m = re.fullmatch(r"([^\W\d_]+)\s*\(.*\)", t)  # "Arabic (Saudi)"
    if m:
        return _LANGUAGE_CODE.get(m.group(1))
    return None


def split_list(text: str) -> list[str]:
    """Parts of a value that names several things: "Arabic, English", "Arabic and English"."""
    parts = [p.strip() for p in re.split(r"\s*(?:,|/|;|&|\+|\band\b|\bor\b|\bو)\s*", text) if p.strip()]
    return parts if len(parts) > 1 else []
