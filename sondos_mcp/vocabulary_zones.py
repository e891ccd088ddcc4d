"""Time zones: IANA names from the names, places, offsets and abbreviations agents write.

Not per field: the one field that holds a zone (`timezone`) declares the `Zone` kind, whose rule is
`judge_timezone`. An abbreviation or country with several zones is answered with candidates; a
fixed offset gets its `Etc/GMT` name with the tz database's inverted sign.
"""

from __future__ import annotations

import difflib
import functools
import re
import zoneinfo
from dataclasses import dataclass, field

from sondos_mcp.vocabulary_readings import NOTHING, Reading, Readings


@functools.cache
def timezones() -> dict[str, str]:
    """Every IANA name on this machine, by its case-folded form."""
    return {name.casefold(): name for name in zoneinfo.available_timezones()}


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(timezones().values())


# Legacy names the tz database keeps, which most people read differently from what they are
# (EST is fixed UTC−5 all year; New York observes daylight saving).
_LEGACY = frozenset({"est", "mst", "est5edt", "cst6cdt", "mst7mdt", "pst8pdt", "cet", "eet", "wet", "met"})

_US_EASTERN = ("America/New_York", "US Eastern time, with daylight saving")
ZONE_ABBREVIATIONS: dict[str, list[tuple[str, str]]] = {
    "est": [_US_EASTERN, ("Etc/GMT+5", "fixed UTC−5 all year")],
    "edt": [_US_EASTERN, ("Etc/GMT+4", "fixed UTC−4 all year")],
    "et": [_US_EASTERN, ("Etc/GMT+5", "fixed UTC−5 all year")],
    "eastern": [_US_EASTERN, ("Etc/GMT+5", "fixed UTC−5 all year")],
    "est5edt": [_US_EASTERN],
    "cst": [
        ("America/Chicago", "US Central time, with daylight saving"),
        ("Asia/Shanghai", "China Standard Time, UTC+8"),
        ("Etc/GMT+6", "fixed UTC−6 all year"),
    ],
    "cdt": [("America/Chicago", "US Central time, with daylight saving"), ("Etc/GMT+5", "fixed UTC−5")],
    "central": [("America/Chicago", "US Central time, with daylight saving")],
    "cst6cdt": [("America/Chicago", "US Central time, with daylight saving")],
    "mst": [
        ("America/Denver", "US Mountain time, with daylight saving"),
        ("America/Phoenix", "Arizona: UTC−7 all year"),
    ],
    "mdt": [("America/Denver", "US Mountain time, with daylight saving"), ("Etc/GMT+6", "fixed UTC−6")],
    "mst7mdt": [("America/Denver", "US Mountain time, with daylight saving")],
    "pst": [("America/Los_Angeles", "US Pacific time, with daylight saving"), ("Etc/GMT+8", "fixed UTC−8 all year")],
    "pdt": [("America/Los_Angeles", "US Pacific time, with daylight saving"), ("Etc/GMT+7", "fixed UTC−7")],
    "pt": [("America/Los_Angeles", "US Pacific time, with daylight saving")],
    "pacific": [("America/Los_Angeles", "US Pacific time, with daylight saving")],
    "pst8pdt": [("America/Los_Angeles", "US Pacific time, with daylight saving")],
    "ast": [("Asia/Riyadh", "Arabia Standard Time, UTC+3"), ("America/Halifax", "Atlantic Standard Time, UTC−4")],
    "gst": [("Asia/Dubai", "Gulf Standard Time, UTC+4"), ("Atlantic/South_Georgia", "South Georgia Time, UTC−2")],
    "ist": [
        ("Asia/Kolkata", "India Standard Time, UTC+5:30"),
        ("Asia/Jerusalem", "Israel Standard Time"),
        ("Europe/Dublin", "Irish Standard Time"),
    ],
    "bst": [("Europe/London", "British Summer Time"), ("Asia/Dhaka", "Bangladesh Standard Time, UTC+6")],
    "cet": [("Europe/Paris", "Central European time, with daylight saving"), ("Etc/GMT-1", "fixed UTC+1 all year")],
    "cest": [("Europe/Paris", "Central European time, with daylight saving"), ("Etc/GMT-2", "fixed UTC+2")],
    "eet": [
        ("Africa/Cairo", "Egypt, Eastern European time"),
        ("Europe/Athens", "Eastern European time, with EU daylight saving"),
        ("Etc/GMT-2", "fixed UTC+2 all year"),
    ],
    "wet": [("Europe/Lisbon", "Western European time, with daylight saving"), ("Etc/UTC", "fixed UTC")],
    "met": [("Europe/Paris", "Central European time, with daylight saving")],
    "aest": [("Australia/Sydney", "Sydney, with daylight saving"), ("Australia/Brisbane", "Brisbane, UTC+10 all year")],
    # One reading each.
    "msk": [("Europe/Moscow", "Moscow time, UTC+3")],
    "jst": [("Asia/Tokyo", "Japan Standard Time")],
    "pkt": [("Asia/Karachi", "Pakistan Standard Time")],
    "sgt": [("Asia/Singapore", "Singapore time")],
    "hkt": [("Asia/Hong_Kong", "Hong Kong time")],
    "ksa": [("Asia/Riyadh", "Saudi Arabia")],
}

# Places that are not the city a zone is named after, and countries with a single zone.
PLACES: dict[str, str] = {
    "jeddah": "Asia/Riyadh",
    "jidda": "Asia/Riyadh",
    "mecca": "Asia/Riyadh",
    "makkah": "Asia/Riyadh",
    "medina": "Asia/Riyadh",
    "madinah": "Asia/Riyadh",
    "dammam": "Asia/Riyadh",
    "khobar": "Asia/Riyadh",
    "saudi arabia": "Asia/Riyadh",
    "saudi": "Asia/Riyadh",
    "abu dhabi": "Asia/Dubai",
    "sharjah": "Asia/Dubai",
    "uae": "Asia/Dubai",
    "united arab emirates": "Asia/Dubai",
    "doha": "Asia/Qatar",
    "qatar": "Asia/Qatar",
    "manama": "Asia/Bahrain",
    "bahrain": "Asia/Bahrain",
    "kuwait city": "Asia/Kuwait",
    "kuwait": "Asia/Kuwait",
    "oman": "Asia/Muscat",
    "jordan": "Asia/Amman",
    "lebanon": "Asia/Beirut",
    "egypt": "Africa/Cairo",
    "alexandria": "Africa/Cairo",
    "giza": "Africa/Cairo",
    "morocco": "Africa/Casablanca",
    "rabat": "Africa/Casablanca",
    "iraq": "Asia/Baghdad",
    "turkey": "Europe/Istanbul",
    "ankara": "Europe/Istanbul",
    "pakistan": "Asia/Karachi",
    "lahore": "Asia/Karachi",
    "islamabad": "Asia/Karachi",
    "india": "Asia/Kolkata",
    "mumbai": "Asia/Kolkata",
    "bombay": "Asia/Kolkata",
    "delhi": "Asia/Kolkata",
    "new delhi": "Asia/Kolkata",
    "bangalore": "Asia/Kolkata",
    "calcutta": "Asia/Kolkata",
    "uk": "Europe/London",
    "united kingdom": "Europe/London",
    "england": "Europe/London",
    "manchester": "Europe/London",
    "france": "Europe/Paris",
    "germany": "Europe/Berlin",
    "munich": "Europe/Berlin",
    "frankfurt": "Europe/Berlin",
    "spain": "Europe/Madrid",
    "barcelona": "Europe/Madrid",
    "italy": "Europe/Rome",
    "milan": "Europe/Rome",
    "japan": "Asia/Tokyo",
    "new york city": "America/New_York",
    "nyc": "America/New_York",
    "boston": "America/New_York",
    "miami": "America/New_York",
    "washington": "America/New_York",
    "washington dc": "America/New_York",
    "atlanta": "America/New_York",
    "houston": "America/Chicago",
    "dallas": "America/Chicago",
    "austin": "America/Chicago",
    "san francisco": "America/Los_Angeles",
    "seattle": "America/Los_Angeles",
    "las vegas": "America/Los_Angeles",
    "montreal": "America/Toronto",
    "beijing": "Asia/Shanghai",
    "melbourne": "Australia/Melbourne",
}
# Countries spanning several zones: never one reading.
MULTI_ZONE: dict[str, list[tuple[str, str]]] = {
    "us": [
        ("America/New_York", "US Eastern"),
        ("America/Chicago", "US Central"),
        ("America/Denver", "US Mountain"),
        ("America/Los_Angeles", "US Pacific"),
    ],
    "canada": [("America/Toronto", "Eastern"), ("America/Vancouver", "Pacific"), ("America/Halifax", "Atlantic")],
    "australia": [("Australia/Sydney", "Sydney"), ("Australia/Perth", "Perth"), ("Australia/Brisbane", "Brisbane")],
    "russia": [("Europe/Moscow", "Moscow"), ("Asia/Yekaterinburg", "Yekaterinburg"), ("Asia/Vladivostok", "Far East")],
    "brazil": [("America/Sao_Paulo", "São Paulo"), ("America/Manaus", "Manaus")],
    "mexico": [("America/Mexico_City", "Mexico City"), ("America/Tijuana", "Tijuana")],
}
MULTI_ZONE["usa"] = MULTI_ZONE["united states"] = MULTI_ZONE["us"]
# Offsets with minutes have no Etc/ zone; these places keep them all year.
HALF_HOUR_ZONES: dict[tuple[int, int], list[str]] = {
    (5, 30): ["Asia/Kolkata", "Asia/Colombo"],
    (4, 30): ["Asia/Kabul"],
    (3, 30): ["Asia/Tehran"],
    (5, 45): ["Asia/Kathmandu"],
    (9, 30): ["Australia/Darwin", "Australia/Adelaide"],
    (-3, -30): ["America/St_Johns"],
}


@dataclass
class ZoneVerdict:
    ok: bool
    readings: Readings = field(default_factory=Readings)
    warning: str | None = None


# Zone names written out, and Windows' zone ids, that name one zone (those that expand an
# abbreviation with several meanings, "Eastern Standard Time", stay with the abbreviation).
LONG_NAMES: dict[str, str] = {
    "arabia standard time": "Asia/Riyadh",
    "arab standard time": "Asia/Riyadh",
    "arabian standard time": "Asia/Dubai",
    "gulf standard time": "Asia/Dubai",
    "arabic standard time": "Asia/Baghdad",
    "egypt standard time": "Africa/Cairo",
    "jordan standard time": "Asia/Amman",
    "israel standard time": "Asia/Jerusalem",
    "iran standard time": "Asia/Tehran",
    "turkey standard time": "Europe/Istanbul",
    "india standard time": "Asia/Kolkata",
    "pakistan standard time": "Asia/Karachi",
    "singapore standard time": "Asia/Singapore",
    "tokyo standard time": "Asia/Tokyo",
    "japan standard time": "Asia/Tokyo",
    "russian standard time": "Europe/Moscow",
    "moscow standard time": "Europe/Moscow",
    "gmt standard time": "Europe/London",
    "w. europe standard time": "Europe/Berlin",
    "romance standard time": "Europe/Paris",
    "morocco standard time": "Africa/Casablanca",
    "south africa standard time": "Africa/Johannesburg",
    "e. africa standard time": "Africa/Nairobi",
}

# Abbreviations written out: as many meanings as the abbreviation.
SPELLED_OUT: dict[str, str] = {
    "eastern standard time": "est",
    "eastern daylight time": "edt",
    "eastern time": "et",
    "central standard time": "cst",
    "central daylight time": "cdt",
    "mountain standard time": "mst",
    "mountain daylight time": "mdt",
    "pacific standard time": "pst",
    "pacific daylight time": "pdt",
    "pacific time": "pt",
    "atlantic standard time": "ast",
    "british summer time": "bst",
    "central european time": "cet",
    "central european summer time": "cest",
    "eastern european time": "eet",
    "western european time": "wet",
}

# Words around a zone that do not change it: "Riyadh time", "KSA timezone", "Dubai (UAE)".
_DECORATION = re.compile(r"\s*(?:\bstandard\s+time|\btime\s*zone|\btimezone|\btime|\bzone)\s*$", re.IGNORECASE)


def judge_timezone(value: str) -> ZoneVerdict:
    """Whether `value` is an IANA zone name to send as is, and if not, what it may have meant."""
    verdict = _judge(value)
    if verdict.ok or verdict.readings.fix is not None or verdict.readings.candidates:
        return verdict
    decorated = _decorated(value)
    return decorated if decorated is not None else verdict


def _decorated(value: str) -> ZoneVerdict | None:
    """A zone with words around it: "Riyadh time", "Asia/Riyadh (GMT+3)". What is in parentheses must
    agree with the rest (the same zone, or its offset now); when it does not, both are candidates."""
    m = re.fullmatch(r"(.+?)\s*\((.+)\)\s*", value)
    main, aside = (m.group(1), m.group(2)) if m else (value, None)
    main = _DECORATION.sub("", main).strip()
    if not main or main == value.strip():
        return None
    first = _zone_of(main)
    if first is None:
        plain = _judge(main)
        return plain if plain.readings.candidates and aside is None else None
    second = _zone_of(aside) if aside else None
    if second is None or second == first or _same_offset(first, second):
        return ZoneVerdict(False, Readings(fix=Reading(first, f"{value!r} names {first}")))
    return ZoneVerdict(
        False,
        Readings(
            candidates=[Reading(first, f"{main} is {first}"), Reading(second, f"{aside} is {second}")],
            note=f"{main!r} and {aside!r} are different zones",
        ),
    )


def _zone_of(text: str) -> str | None:
    found = _judge(text)
    if found.ok:
        return text.strip()
    return found.readings.fix.value if found.readings.fix is not None else None


def _same_offset(a: str, b: str) -> bool:
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    try:
        return now.astimezone(zoneinfo.ZoneInfo(a)).utcoffset() == now.astimezone(zoneinfo.ZoneInfo(b)).utcoffset()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False


def _judge(value: str) -> ZoneVerdict:
    zones = timezones()
    if not zones:
        return ZoneVerdict(True)  # without a tz database here, the API judges
    folded = value.strip().casefold()
    if value in _zone_names() and folded not in _LEGACY:
        m = re.fullmatch(r"etc/gmt([+-])(\d+)", folded)
        if m and m.group(2) != "0":
            real = f"UTC{'−' if m.group(1) == '+' else '+'}{m.group(2)}"
            other = f"Etc/GMT{'-' if m.group(1) == '+' else '+'}{m.group(2)}"
            return ZoneVerdict(
                True, warning=f"{value} is {real} (the tz database inverts the sign); {other} is the opposite"
            )
        return ZoneVerdict(True)
    key = re.sub(r"\s+", " ", folded.replace("_", " "))
    key = SPELLED_OUT.get(key, key)
    if key in ZONE_ABBREVIATIONS or key.replace(" ", "") in ZONE_ABBREVIATIONS:
        options = ZONE_ABBREVIATIONS.get(key) or ZONE_ABBREVIATIONS[key.replace(" ", "")]
        readings = [Reading(zone, f"{value} as {what}") for zone, what in options]
        note = None if len(readings) == 1 else f"{value} is an abbreviation with several meanings"
        return ZoneVerdict(False, Readings.of(readings, note))
    if key in MULTI_ZONE:
        readings = [Reading(zone, f"{what}") for zone, what in MULTI_ZONE[key]]
        return ZoneVerdict(False, Readings.of(readings, f"{value} spans several time zones"))
    offset = _offset(folded)
    if offset is not None:
        return ZoneVerdict(False, offset)
    exact = zones.get(folded.replace(" ", "_"))
    if exact is not None and exact.casefold() not in _LEGACY:
        return ZoneVerdict(False, Readings(fix=Reading(exact, f"{value!r} is {exact} in the tz database's spelling")))
    if key in PLACES:
        return ZoneVerdict(False, Readings(fix=Reading(PLACES[key], f"{value} keeps {PLACES[key]} time")))
    if key in LONG_NAMES:
        return ZoneVerdict(False, Readings(fix=Reading(LONG_NAMES[key], f"{value} is {LONG_NAMES[key]}")))
    city = key.replace(" ", "_")
    by_city = [name for name in zones.values() if name.casefold().rsplit("/", 1)[-1] == city and "/" in name]
    if len(by_city) > 1:
        by_city = [n for n in by_city if not n.startswith(("Etc/", "US/", "SystemV/"))] or by_city
        canonical = [n for n in by_city if n.split("/")[0] in _REGIONS]
        by_city = canonical or by_city
    if len(by_city) == 1:
        return ZoneVerdict(False, Readings(fix=Reading(by_city[0], f"{value} is the city of {by_city[0]}")))
    # "Cairo, Egypt", "Asia/Jeddah": every part that names a place must name the same zone.
    parts = [q.strip() for q in re.split(r"[,/]", value) if q.strip()]
    if len(parts) > 1:
        found = {z for z in (_place_zone(q) for q in parts) if z}
        if len(found) == 1:
            (zone,) = found
            return ZoneVerdict(False, Readings(fix=Reading(zone, f"{value!r} is a place in {zone}")))
    if "/" in folded:
        close = difflib.get_close_matches(folded, list(zones), n=2, cutoff=0.85)
        if len(close) == 1 and close[0].split("/")[0] == folded.split("/")[0]:
            name = zones[close[0]]
            return ZoneVerdict(False, Readings(fix=Reading(name, f"{value!r} is a misspelling of {name}")))
    return ZoneVerdict(False, NOTHING)


def _place_zone(text: str) -> str | None:
    """The zone of one place name (a city or single-zone country), if it has exactly one."""
    key = re.sub(r"\s+", " ", text.casefold().replace("_", " ")).strip()
    if key in PLACES:
        return PLACES[key]
    city = key.replace(" ", "_")
    by_city = [
        n for n in _zone_names() if n.split("/")[0] in _REGIONS and "/" in n and n.casefold().rsplit("/", 1)[-1] == city
    ]
    return by_city[0] if len(by_city) == 1 else None


_REGIONS = frozenset(
    {"Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific"}
)


def _offset(folded: str) -> Readings | None:
    m = re.fullmatch(r"(?:utc|gmt|z)?\s*([+\-−])\s*(\d{1,2})(?::?(\d{2}))?(?:\s*(?:h|hours?))?", folded)
    if not m or not (folded[0] in "+-−" or folded.startswith(("utc", "gmt", "z"))):
        return None
    sign = -1 if m.group(1) in "-−" else 1
    hours, minutes = int(m.group(2)), int(m.group(3) or 0)
    said = f"UTC{'+' if sign > 0 else '−'}{hours}" + (f":{minutes:02d}" if minutes else "")
    if minutes:
        zones = HALF_HOUR_ZONES.get((sign * hours, sign * minutes), [])
        readings = [Reading(z, f"{said}: {z} keeps this offset") for z in zones]
        return Readings(candidates=readings, note=f"{said} has no fixed-offset zone name")
    if hours == 0:
        return Readings(fix=Reading("UTC", f"{said} is UTC"))
    if hours > 14 or (sign < 0 and hours > 12):
        return Readings(note=f"{said} is not an offset in use")
    # The tz database's Etc/GMT zones carry the POSIX sign: Etc/GMT-3 is three hours AHEAD of UTC.
    name = f"Etc/GMT{'-' if sign > 0 else '+'}{hours}"
    return Readings(fix=Reading(name, f"{said} as a fixed offset, no daylight saving; the tz database names it {name}"))
