"""Card profiles: JSON personalisation data for the contact card simulator.

A profile is the data an issuer's personalisation bureau writes into a chip (EMV Book 3
Section 7 data objects, Book 1 Section 12 selection data).  It lives in
``hardware_sim/profiles/<name>.json``; ``"extends": "<other profile>"`` deep-merges the
other profile under it (lists are replaced, not merged).

Per application the profile names the usual fields (``pan``, ``expiry``, ``cdol1`` ...) and
lays out the records as ``"SFI.RECORD": {"TAG": "hex" | null}``; ``null`` takes the value
the loader derives from the named fields (5A from ``pan``, 57 from PAN/expiry/service code,
8C from ``cdol1`` and so on).  Every problem raises :class:`ProfileError` naming the profile
and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from crypto.emv_cryptogram import AC_DATA_TAGS
from emv import dol
from emv.errors import DolError

PROFILE_PACKAGE = "hardware_sim.profiles"

# Tags the card itself supplies to the cryptogram; every other AC data tag must be in CDOL1.
CARD_SUPPLIED_AC_TAGS = {0x82, 0x9F36, 0x9F10}
REQUIRED_CDOL1_TAGS = tuple(t for t in AC_DATA_TAGS if t not in CARD_SUPPLIED_AC_TAGS)

TOP_LEVEL_KEYS = {
    "description",
    "extends",
    "atr",
    "pse",
    "pse_languages",
    "pin",
    "pin_try_limit",
    "pin_try_counter",
    "card_blocked",
    "applications",
    "faults",
}
APPLICATION_KEYS = {
    "aid",
    "label",
    "preferred_name",
    "priority",
    "languages",
    "pan",
    "psn",
    "expiry",
    "effective",
    "service_code",
    "cardholder_name",
    "aip",
    "pdol",
    "gpo_format",
    "gpo_conditions_not_satisfied",
    "genac_format",
    "cdol1",
    "cdol2",
    "ddol",
    "cvm_list",
    "iac_denial",
    "iac_online",
    "iac_default",
    "auc",
    "app_version",
    "issuer_country",
    "app_currency",
    "atc",
    "last_online_atc",
    "card_risk",
    "oda",
    "oda_sfi",
    "sda_tag_list",
    "oda_tampered",
    "issuer_revoked",
    "pin_key_certificate",
    "afl",
    "records",
    "data",
    "blocked",
    "log_format",
    "log_sfi",
    "log_records",
    "put_data_tags",
}
FAULT_KEYS = {
    "malformed_tlv_at_apdu",
    "malformed_record",
    "wrong_sw_at_apdu",
    "wrong_sw",
    "remove_at_apdu",
    "delay_s",
}
ODA_METHODS = ("none", "sda", "dda", "cda")


class ProfileError(ValueError):
    """A card profile that cannot be loaded; the message names the profile and field."""


@dataclass(frozen=True)
class AflEntry:
    """One AFL entry (Book 3 10.2): SFI, first and last record, records used for ODA."""

    sfi: int
    first: int
    last: int
    oda_count: int

    def encode(self) -> bytes:
        return bytes([self.sfi << 3, self.first, self.last, self.oda_count])


@dataclass(frozen=True)
class CardRisk:
    """Card risk management parameters (issuer-defined, Visa VIS style)."""

    online_only: bool = False
    new_card_online: bool = False
    lower_consecutive_offline_limit: int | None = None  # 9F14
    upper_consecutive_offline_limit: int | None = None  # 9F23
    issuer_authentication_required: bool = False


@dataclass(frozen=True)
class Faults:
    """Fault injection (APDU numbers count from 1 after each power-on)."""

    malformed_tlv_at_apdu: int | None = None
    malformed_record: tuple[int, int] | None = None
    wrong_sw_at_apdu: int | None = None
    wrong_sw: int = 0x6F00
    remove_at_apdu: int | None = None
    delay_s: float = 0.0


@dataclass
class ApplicationProfile:
    aid: bytes
    label: str
    preferred_name: str | None
    priority: int | None
    languages: str
    pan: str
    psn: str
    expiry: bytes
    aip: bytes
    pdol: bytes
    gpo_format: int
    gpo_conditions_not_satisfied: bool
    genac_format: int
    cdol1: bytes
    cdol2: bytes
    ddol: bytes
    atc: int
    last_online_atc: int
    card_risk: CardRisk
    oda: str
    oda_sfi: int
    sda_tag_list: bytes
    oda_tampered: bool
    issuer_revoked: bool
    afl: list[AflEntry]
    records: dict[tuple[int, int], list[tuple[int, bytes]]]
    data: dict[int, bytes]
    blocked: bool
    log_format: bytes | None
    log_sfi: int
    log_records: int
    put_data_tags: frozenset[int]
    pin_key_certificate: bool = False  # 9F2D: separate ICC PIN encipherment key (Book 2 7.1)


@dataclass
class CardProfile:
    name: str
    description: str
    atr: bytes
    pse: bool
    pse_languages: str
    pin: str | None
    pin_try_limit: int
    pin_try_counter: int
    card_blocked: bool
    applications: list[ApplicationProfile]
    faults: Faults = field(default_factory=Faults)


def profile_names() -> list[str]:
    root = resources.files(PROFILE_PACKAGE)
    return sorted(p.name.removesuffix(".json") for p in root.iterdir() if p.name.endswith(".json"))


def _read_raw(name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    if name in seen:
        raise ProfileError(f"card profile {name!r} extends itself through {' -> '.join(seen)}")
    if name not in profile_names():
        known = ", ".join(profile_names())
        raise KeyError(f"no card profile named {name!r}; known profiles: {known}")
    text = resources.files(PROFILE_PACKAGE).joinpath(f"{name}.json").read_text("utf-8")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(f"card profile {name!r} is not valid JSON: {exc.msg}") from exc
    if not isinstance(raw, dict):
        raise ProfileError(f"card profile {name!r} must be a JSON object")
    out: dict[str, Any] = raw
    base = out.pop("extends", None)
    if base is not None:
        out = deep_merge(_read_raw(str(base), (*seen, name)), out)
    return out


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``: dicts merge recursively, the ``applications`` lists merge entry
    by entry (so a profile can extend another and change one field), anything else is
    replaced."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        elif key == "applications" and isinstance(value, list) and isinstance(out.get(key), list):
            merged = list(out[key])
            for i, app in enumerate(value):
                if i < len(merged) and isinstance(app, dict) and isinstance(merged[i], dict):
                    merged[i] = deep_merge(merged[i], app)
                elif i < len(merged):
                    merged[i] = app
                else:
                    merged.append(app)
            out[key] = merged
        else:
            out[key] = value
    return out


def raw_profile(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The merged JSON of a profile with ``overrides`` applied.

    An override key that is an application field (``pan``, ``expiry``...) applies to every
    application of the card; a top-level key (``pin``, ``faults``...) to the card.
    """
    raw = _read_raw(name)
    for key, value in (overrides or {}).items():
        if key in TOP_LEVEL_KEYS:
            if isinstance(value, dict) and isinstance(raw.get(key), dict):
                raw[key] = deep_merge(raw[key], value)
            else:
                raw[key] = value
        elif key in APPLICATION_KEYS:
            for app in raw.get("applications", []):
                if isinstance(value, dict) and isinstance(app.get(key), dict):
                    app[key] = deep_merge(app[key], value)
                else:
                    app[key] = value
        else:
            raise ProfileError(f"unknown card profile field {key!r} in the overrides")
    return raw


class _Reader:
    """Typed access to one JSON object with errors that name the field."""

    def __init__(self, where: str, raw: dict[str, Any], allowed: set[str]) -> None:
        self.where = where
        self.raw = raw
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise ProfileError(f"{where}: unknown field {unknown[0]!r}")

    def fail(self, key: str, why: str) -> ProfileError:
        return ProfileError(f"{self.where}: field {key!r} {why}")

    def hex(self, key: str, default: str | None = None, length: int | None = None) -> bytes:
        value = self.raw.get(key, default)
        if value is None:
            raise self.fail(key, "is missing")
        try:
            out = bytes.fromhex(str(value).replace(" ", ""))
        except ValueError:
            raise self.fail(key, "is not hexadecimal") from None
        if length is not None and len(out) != length:
            raise self.fail(key, f"must be {length} bytes")
        return out

    def digits(self, key: str, default: str | None = None, lengths: range = range(1, 20)) -> str:
        value = self.raw.get(key, default)
        if not isinstance(value, str) or not value.isdigit() or len(value) not in lengths:
            raise self.fail(key, f"must be a string of {lengths.start}-{lengths.stop - 1} digits")
        return value

    def text(self, key: str, default: str | None = None) -> str:
        value = self.raw.get(key, default)
        if not isinstance(value, str):
            raise self.fail(key, "must be a string")
        return value

    def integer(self, key: str, default: int | None = None, lo: int = 0, hi: int = 0xFFFF) -> int:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(key, f"must be an integer from {lo} to {hi}")
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "must be true or false")
        return value

    def dol(self, key: str) -> bytes:
        value = self.hex(key, "")
        try:
            dol.parse(value)
        except DolError as exc:
            raise self.fail(key, f"is not a valid data object list ({exc})") from None
        return value


def _bcd_date(reader: _Reader, key: str) -> bytes:
    digits = reader.digits(key, lengths=range(6, 7))
    month, day = int(digits[2:4]), int(digits[4:6])
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        raise reader.fail(key, "is not a valid YYMMDD date")
    return bytes.fromhex(digits)


def _cn(digits: str) -> bytes:
    """Compressed numeric: digits left-justified, padded with F (Book 3 4.3)."""
    if len(digits) % 2:
        digits += "F"
    return bytes.fromhex(digits)


def track2_equivalent(pan: str, expiry: bytes, service_code: str) -> bytes:
    """Track 2 Equivalent Data (57): PAN, separator D, YYMM, service code, discretionary."""
    body = f"{pan}D{expiry.hex()[:4]}{service_code}0000000000"
    return _cn(body.upper())


def _card_risk(reader: _Reader) -> CardRisk:
    raw = reader.raw.get("card_risk", {})
    if not isinstance(raw, dict):
        raise reader.fail("card_risk", "must be an object")
    sub = _Reader(
        f"{reader.where}.card_risk",
        raw,
        {
            "online_only",
            "new_card_online",
            "lower_consecutive_offline_limit",
            "upper_consecutive_offline_limit",
            "issuer_authentication_required",
        },
    )
    lower = raw.get("lower_consecutive_offline_limit")
    upper = raw.get("upper_consecutive_offline_limit")
    return CardRisk(
        online_only=sub.flag("online_only"),
        new_card_online=sub.flag("new_card_online"),
        lower_consecutive_offline_limit=None
        if lower is None
        else sub.integer("lower_consecutive_offline_limit", hi=255),
        upper_consecutive_offline_limit=None
        if upper is None
        else sub.integer("upper_consecutive_offline_limit", hi=255),
        issuer_authentication_required=sub.flag("issuer_authentication_required"),
    )


def _afl(reader: _Reader) -> list[AflEntry]:
    raw = reader.raw.get("afl")
    if not isinstance(raw, list) or not raw:
        raise reader.fail("afl", "must be a non-empty list of [sfi, first, last, oda_count]")
    out = []
    for item in raw:
        if (
            not isinstance(item, list)
            or len(item) != 4
            or not all(isinstance(v, int) for v in item)
        ):
            raise reader.fail("afl", "entries must be [sfi, first, last, oda_count]")
        sfi, first, last, oda_count = item
        if not 1 <= sfi <= 30 or not 1 <= first <= last <= 255 or oda_count > last - first + 1:
            raise reader.fail("afl", f"entry {item} breaks the Book 3 10.2 rules")
        out.append(AflEntry(sfi, first, last, oda_count))
    return out


def _record_key(reader: _Reader, key: str) -> tuple[int, int]:
    try:
        sfi_text, rec_text = key.split(".")
        sfi, rec = int(sfi_text), int(rec_text)
    except ValueError:
        raise reader.fail("records", f"key {key!r} must be 'SFI.RECORD'") from None
    if not 1 <= sfi <= 30 or not 1 <= rec <= 255:
        raise reader.fail("records", f"key {key!r} is out of range")
    return sfi, rec


def _derived_data(r: _Reader, app: dict[str, Any]) -> dict[int, bytes]:
    """The values the named profile fields imply, by tag."""
    pan = r.digits("pan", lengths=range(12, 20))
    psn = r.digits("psn", "00", lengths=range(2, 3))
    expiry = _bcd_date(r, "expiry")
    service_code = r.digits("service_code", "201", lengths=range(3, 4))
    data: dict[int, bytes] = {
        0x5A: _cn(pan),
        0x5F34: bytes.fromhex(psn),
        0x5F24: expiry,
        0x57: track2_equivalent(pan, expiry, service_code),
        0x82: r.hex("aip", length=2),
        0x8C: r.dol("cdol1"),
        0x50: r.text("label").encode("ascii"),
        0x5F2D: r.text("languages", "en").encode("ascii"),
        0x9F08: r.hex("app_version", "0096", length=2),
    }
    optional_hex = {
        "cdol2": 0x8D,
        "ddol": 0x9F49,
        "cvm_list": 0x8E,
        "iac_denial": 0x9F0E,
        "iac_online": 0x9F0F,
        "iac_default": 0x9F0D,
        "auc": 0x9F07,
        "issuer_country": 0x5F28,
        "app_currency": 0x9F42,
        "sda_tag_list": 0x9F4A,
        "pdol": 0x9F38,
        "log_format": 0x9F4F,
    }
    dol_fields = {"cdol2", "ddol", "pdol", "log_format"}
    for key, tag in optional_hex.items():
        if app.get(key):
            data[tag] = r.dol(key) if key in dol_fields else r.hex(key)
    if "effective" in app:
        data[0x5F25] = _bcd_date(r, "effective")
    if "cardholder_name" in app:
        data[0x5F20] = r.text("cardholder_name").encode("ascii")
    if app.get("preferred_name"):
        data[0x9F12] = r.text("preferred_name").encode("ascii")
    if app.get("priority") is not None:
        data[0x87] = bytes([r.integer("priority", lo=0, hi=255)])
    extra = app.get("data", {})
    if not isinstance(extra, dict):
        raise r.fail("data", "must be an object of TAG: hex")
    for tag_text, value in extra.items():
        try:
            data[int(tag_text, 16)] = bytes.fromhex(str(value).replace(" ", ""))
        except ValueError:
            raise r.fail("data", f"entry {tag_text!r} is not hexadecimal") from None
    return data


def _application(profile: str, index: int, app: dict[str, Any]) -> ApplicationProfile:
    r = _Reader(f"card profile {profile!r} application {index + 1}", app, APPLICATION_KEYS)
    data = _derived_data(r, app)
    cdol1 = data[0x8C]
    cdol1_tags = {e.tag for e in dol.parse(cdol1)}
    missing = [f"{t:X}" for t in REQUIRED_CDOL1_TAGS if t not in cdol1_tags]
    if missing:
        raise r.fail("cdol1", f"lacks the cryptogram data element(s) {', '.join(missing)}")
    card_risk = _card_risk(r)
    if card_risk.lower_consecutive_offline_limit is not None:
        data[0x9F14] = bytes([card_risk.lower_consecutive_offline_limit])
    if card_risk.upper_consecutive_offline_limit is not None:
        data[0x9F23] = bytes([card_risk.upper_consecutive_offline_limit])

    raw_records = app.get("records")
    if not isinstance(raw_records, dict) or not raw_records:
        raise r.fail("records", "must map 'SFI.RECORD' to {TAG: hex or null}")
    records: dict[tuple[int, int], list[tuple[int, bytes]]] = {}
    for key, content in raw_records.items():
        where = _record_key(r, key)
        if not isinstance(content, dict):
            raise r.fail("records", f"record {key!r} must be an object of TAG: hex or null")
        items: list[tuple[int, bytes]] = []
        for tag_text, value in content.items():
            try:
                tag = int(tag_text, 16)
            except ValueError:
                raise r.fail("records", f"record {key!r} has a bad tag {tag_text!r}") from None
            if value is None:
                if tag not in data:
                    raise r.fail("records", f"record {key!r} asks for tag {tag_text} with no value")
                items.append((tag, data[tag]))
            else:
                try:
                    items.append((tag, bytes.fromhex(str(value).replace(" ", ""))))
                except ValueError:
                    raise r.fail("records", f"record {key!r} tag {tag_text} is not hex") from None
                data.setdefault(tag, items[-1][1])
        records[where] = items

    afl = _afl(r)
    for entry in afl:
        for rec in range(entry.first, entry.last + 1):
            if (entry.sfi, rec) not in records:
                raise r.fail("afl", f"names record {entry.sfi}.{rec} which the profile lacks")

    oda = r.text("oda", "none").lower()
    if oda not in ODA_METHODS:
        raise r.fail("oda", f"must be one of {', '.join(ODA_METHODS)}")
    gpo_format = r.integer("gpo_format", 1, lo=1, hi=2)
    genac_format = r.integer("genac_format", 2, lo=1, hi=2)
    log_format = data.get(0x9F4F)
    return ApplicationProfile(
        aid=r.hex("aid"),
        label=r.text("label"),
        preferred_name=app.get("preferred_name"),
        priority=app.get("priority"),
        languages=r.text("languages", "en"),
        pan=r.digits("pan", lengths=range(12, 20)),
        psn=r.digits("psn", "00", lengths=range(2, 3)),
        expiry=data[0x5F24],
        aip=data[0x82],
        pdol=data.get(0x9F38, b""),
        gpo_format=gpo_format,
        gpo_conditions_not_satisfied=r.flag("gpo_conditions_not_satisfied"),
        genac_format=genac_format,
        cdol1=cdol1,
        cdol2=data.get(0x8D, b""),
        ddol=data.get(0x9F49, b""),
        atc=r.integer("atc", 0),
        last_online_atc=r.integer("last_online_atc", 0),
        card_risk=card_risk,
        oda=oda,
        oda_sfi=r.integer("oda_sfi", 3, lo=1, hi=10),
        sda_tag_list=data.get(0x9F4A, b""),
        oda_tampered=r.flag("oda_tampered"),
        issuer_revoked=r.flag("issuer_revoked"),
        pin_key_certificate=r.flag("pin_key_certificate"),
        afl=afl,
        records=records,
        data=data,
        blocked=r.flag("blocked"),
        log_format=log_format,
        log_sfi=r.integer("log_sfi", 11, lo=11, hi=30),
        log_records=r.integer("log_records", 10, lo=1, hi=30),
        put_data_tags=frozenset(int(t, 16) for t in app.get("put_data_tags", ["9F14", "9F23"])),
    )


def _faults(profile: str, raw: Any) -> Faults:
    if raw is None:
        return Faults()
    if not isinstance(raw, dict):
        raise ProfileError(f"card profile {profile!r}: field 'faults' must be an object")
    r = _Reader(f"card profile {profile!r} faults", raw, FAULT_KEYS)

    def optional_int(key: str) -> int | None:
        return None if raw.get(key) is None else r.integer(key, lo=1, hi=1_000_000)

    record = None
    if raw.get("malformed_record") is not None:
        record = _record_key(r, r.text("malformed_record"))
    delay = raw.get("delay_s", 0.0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= 60:
        raise r.fail("delay_s", "must be a number of seconds from 0 to 60")
    return Faults(
        malformed_tlv_at_apdu=optional_int("malformed_tlv_at_apdu"),
        malformed_record=record,
        wrong_sw_at_apdu=optional_int("wrong_sw_at_apdu"),
        wrong_sw=int.from_bytes(r.hex("wrong_sw", "6F00", length=2), "big"),
        remove_at_apdu=optional_int("remove_at_apdu"),
        delay_s=float(delay),
    )


def build_profile(name: str, raw: dict[str, Any]) -> CardProfile:
    """Validate a merged profile dict into a :class:`CardProfile`."""
    r = _Reader(f"card profile {name!r}", raw, TOP_LEVEL_KEYS)
    apps_raw = raw.get("applications")
    if not isinstance(apps_raw, list) or not apps_raw:
        raise r.fail("applications", "must be a non-empty list")
    apps = []
    for i, app in enumerate(apps_raw):
        if not isinstance(app, dict):
            raise r.fail("applications", f"entry {i + 1} must be an object")
        apps.append(_application(name, i, app))
    pin = raw.get("pin")
    if pin is not None:
        pin = r.digits("pin", lengths=range(4, 13))
    limit = r.integer("pin_try_limit", 3, lo=1, hi=15)
    return CardProfile(
        name=name,
        description=r.text("description", ""),
        atr=r.hex("atr", "3B 80 80 01 01"),
        pse=r.flag("pse", True),
        pse_languages=r.text("pse_languages", apps[0].languages),
        pin=pin,
        pin_try_limit=limit,
        pin_try_counter=r.integer("pin_try_counter", limit, lo=0, hi=limit),
        card_blocked=r.flag("card_blocked"),
        applications=apps,
        faults=_faults(name, raw.get("faults")),
    )


def load_profile(name: str, overrides: dict[str, Any] | None = None) -> CardProfile:
    return build_profile(name, raw_profile(name, overrides))
