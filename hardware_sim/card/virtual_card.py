"""A contact EMV card: the card side of EMV Book 1 (selection) and Book 3 (transaction).

Commands (Book 3 Section 6.5 unless noted):

========================  =====  =====================================================
SELECT                    00 A4  Book 1 11.3 / 12.2-12.3: PSE, exact and partial AID,
                                 P2=02 next occurrence; 6283 blocked app, 6A81 blocked card
READ RECORD               00 B2  PSE directory (Book 1 12.2.3) or the application's AFL
GET PROCESSING OPTIONS    80 A8  83 template checked against the PDOL; format 1 or 2
GET DATA                  80 CA  9F36, 9F13, 9F17, 9F4F
VERIFY                    00 20  P2=80 plaintext, P2=88 enciphered (Book 2 7.2)
GET CHALLENGE             00 84  8 random bytes for enciphered PIN
INTERNAL AUTHENTICATE     00 88  DDA (Book 2 6.5)
EXTERNAL AUTHENTICATE     00 82  issuer authentication, ARPC method 1 (Book 2 8.2.1)
GENERATE AC               80 AE  card risk management, cryptogram, CDA (Book 2 6.6)
APPLICATION BLOCK         84 1E  issuer script with secure messaging (Book 3 6.5.1)
APPLICATION UNBLOCK       84 18  (Book 3 6.5.2)
CARD BLOCK                84 16  (Book 3 6.5.3)
PIN CHANGE/UNBLOCK        84 24  P2=00 unblock, P2=02 new PIN (Book 3 6.5.10)
PUT DATA                  04 DA  card risk parameters only (9F14, 9F23 by default)
========================  =====  =====================================================

The application cryptogram is :func:`crypto.emv_cryptogram.application_cryptogram` under
the ICC master key derived (Option A) from the test issuer's ``imk_ac``; the Issuer
Application Data is Visa CVN 18 style (see :mod:`hardware_sim.card.cvr`).  ATC, Last
Online ATC, PIN try counter and blocked flags persist across :meth:`power_on` for the life
of the object; the selection and transaction state do not.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from crypto import des
from crypto.emv_cryptogram import application_cryptogram, arpc_method_1
from crypto.emv_keys import derive_icc_master_key_option_a
from emv import dol, tlv
from emv.errors import DolError, TlvError
from hardware_sim import pki
from hardware_sim.card import secure_messaging as sm
from hardware_sim.card.cvr import AAC, ARQC, TC, Cvr, issuer_application_data
from hardware_sim.card.pin import parse_enciphered, parse_format2
from hardware_sim.card.profile import ApplicationProfile, CardProfile
from hardware_sim.card.records import PersonalisedApplication, personalise
from hardware_sim.test_keys import issuer_for_pan

PSE_NAME = b"1PAY.SYS.DDF01"
PSE_SFI = 1
APPROVED_ARCS = (b"00", b"08", b"10", b"11")
UNABLE_ONLINE_ARCS = (b"Y3", b"Z3")
# TEST-ONLY issuer master key for cards whose BIN has no test issuer (the host declines
# those as "unknown issuer" before it ever checks a cryptogram).
UNKNOWN_ISSUER_IMK = bytes.fromhex("11111111111111112222222222222222")

SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700
SW_SECURITY_NOT_SATISFIED = 0x6982
SW_AUTH_BLOCKED = 0x6983
SW_REF_DATA_NOT_USABLE = 0x6984
SW_CONDITIONS = 0x6985
SW_SM_INCORRECT = 0x6988
SW_WRONG_DATA = 0x6A80
SW_FUNCTION_NOT_SUPPORTED = 0x6A81
SW_FILE_NOT_FOUND = 0x6A82
SW_RECORD_NOT_FOUND = 0x6A83
SW_WRONG_P1P2 = 0x6A86
SW_DATA_NOT_FOUND = 0x6A88
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00
SW_SELECTED_FILE_INVALIDATED = 0x6283
SW_AUTH_FAILED = 0x6300
SW_NO_DIAGNOSIS = 0x6F00


def _sw(code: int) -> bytes:
    return code.to_bytes(2, "big")


def _ok(data: bytes = b"") -> bytes:
    return data + _sw(SW_OK)


@dataclass
class ApplicationState:
    """One application's personalisation plus the counters that survive power-off."""

    profile: ApplicationProfile
    personal: PersonalisedApplication
    icc_mk_ac: bytes
    atc: int
    last_online_atc: int
    blocked: bool
    lower_limit: int | None
    upper_limit: int | None
    # "last transaction" facts reported in the next CVR
    issuer_auth_failed_last_online: bool = False
    last_online_not_completed: bool = False
    log: list[bytes] = field(default_factory=list)

    @property
    def consecutive_offline(self) -> int:
        """Transactions since the last approved online one, this one included."""
        return self.atc - self.last_online_atc


@dataclass
class Transaction:
    """Volatile state: reset by power-on and by every SELECT."""

    app: int | None = None
    pse_selected: bool = False
    select_name: bytes = b""
    gpo_done: bool = False
    pdol_data: bytes = b""
    cdol1_data: bytes = b""
    cdol1_values: dict[int, bytes] = field(default_factory=dict)
    first_ac: int | None = None
    second_ac: int | None = None
    ac: bytes = b""
    issuer_auth: bool | None = None
    external_authenticate_done: bool = False
    cvr: Cvr = field(default_factory=Cvr)


@dataclass(frozen=True)
class ScriptResult:
    """One issuer script command the card executed (``sw`` is what it answered)."""

    command: str
    sw: int


class VirtualCard:
    """An EMV contact card built from a :class:`CardProfile`."""

    def __init__(
        self,
        profile: CardProfile,
        *,
        random_bytes: Callable[[int], bytes] = os.urandom,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.profile = profile
        self.profile_name = profile.name
        self.atr = profile.atr
        self.test_pin: str | None = profile.pin  # TEST-ONLY: the simulated cardholder's PIN
        self.faults = profile.faults
        self._random = random_bytes
        self._sleep = sleep
        self._pin = profile.pin
        self.pin_try_limit = profile.pin_try_limit
        self.pin_try_counter = profile.pin_try_counter
        self.card_blocked = profile.card_blocked
        self.applications = [self._personalise(app) for app in profile.applications]
        self.script_results: list[ScriptResult] = []
        self.apdu_count = 0
        self.txn = Transaction()
        self._challenge: bytes | None = None
        self.last_error: str | None = None  # internal failure behind the last 6F00, if any

    @staticmethod
    def _personalise(app: ApplicationProfile) -> ApplicationState:
        issuer = issuer_for_pan(app.pan)
        imk = issuer.imk_ac if issuer is not None else UNKNOWN_ISSUER_IMK
        data = app.data
        return ApplicationState(
            profile=app,
            personal=personalise(app),
            icc_mk_ac=derive_icc_master_key_option_a(imk, app.pan, app.psn),
            atc=app.atc,
            last_online_atc=app.last_online_atc,
            blocked=app.blocked,
            lower_limit=data[0x9F14][0] if 0x9F14 in data else None,
            upper_limit=data[0x9F23][0] if 0x9F23 in data else None,
        )

    # --- the card interface -----------------------------------------------------------

    @property
    def pin_blocked(self) -> bool:
        return self.pin_try_counter == 0

    def power_on(self) -> None:
        """Cold reset: forget the selection, the transaction and the challenge."""
        app = self._current_app()
        if app is not None and self.txn.first_ac == ARQC and self.txn.second_ac is None:
            app.last_online_not_completed = True
        self.txn = Transaction()
        self._challenge = None
        self.apdu_count = 0

    def process(self, apdu: bytes) -> bytes:
        """Answer one command APDU with response data + SW1 SW2 (faults applied)."""
        self.apdu_count += 1
        faults = self.faults
        if faults.delay_s:
            self._sleep(faults.delay_s)
        try:
            response = self._dispatch(bytes(apdu))
        except Exception as exc:  # noqa: BLE001 - a card never crashes: it answers 6F00
            self.last_error = f"{type(exc).__name__}: {exc}"
            response = _sw(SW_NO_DIAGNOSIS)
        if faults.wrong_sw_at_apdu == self.apdu_count:
            return _sw(faults.wrong_sw)
        if faults.malformed_tlv_at_apdu == self.apdu_count:
            return corrupt_tlv(response[:-2]) + response[-2:]
        return response

    # --- dispatch ---------------------------------------------------------------------

    def _dispatch(self, apdu: bytes) -> bytes:
        if len(apdu) < 4:
            return _sw(SW_WRONG_LENGTH)
        cla, ins, p1, p2 = apdu[:4]
        data = b""
        if len(apdu) > 5:
            lc = apdu[4]
            if len(apdu) not in (5 + lc, 6 + lc) or lc == 0:
                return _sw(SW_WRONG_LENGTH)
            data = apdu[5 : 5 + lc]
        handlers: dict[tuple[int, int], Callable[[int, int, bytes], bytes]] = {
            (0x00, 0xA4): self._select,
            (0x00, 0xB2): self._read_record,
            (0x80, 0xA8): self._gpo,
            (0x80, 0xCA): self._get_data,
            (0x00, 0x20): self._verify,
            (0x00, 0x84): self._get_challenge,
            (0x00, 0x88): self._internal_authenticate,
            (0x00, 0x82): self._external_authenticate,
            (0x80, 0xAE): self._generate_ac,
        }
        handler = handlers.get((cla, ins))
        if handler is not None:
            return handler(p1, p2, data)
        if (cla, ins) in SCRIPT_COMMANDS:
            return self._script_command(apdu)
        if any(i == ins for _, i in handlers) or any(i == ins for _, i in SCRIPT_COMMANDS):
            return _sw(SW_CLA_NOT_SUPPORTED)
        return _sw(SW_INS_NOT_SUPPORTED)

    def _current_app(self) -> ApplicationState | None:
        return None if self.txn.app is None else self.applications[self.txn.app]

    # --- selection (Book 1 Section 11.3 and 12) ----------------------------------------

    def _select(self, p1: int, p2: int, name: bytes) -> bytes:
        if p1 != 0x04 or p2 not in (0x00, 0x02):
            return _sw(SW_WRONG_P1P2)
        if self.card_blocked:
            return _sw(SW_FUNCTION_NOT_SUPPORTED)
        previous = self.txn
        if previous.first_ac == ARQC and previous.second_ac is None and previous.app is not None:
            self.applications[previous.app].last_online_not_completed = True
        self.txn = Transaction()
        if name == PSE_NAME and self.profile.pse:
            if p2 == 0x02:
                return _sw(SW_FILE_NOT_FOUND)
            self.txn.pse_selected = True
            self.txn.select_name = name
            return _ok(self._pse_fci())
        matches = [
            i for i, a in enumerate(self.applications) if name and a.profile.aid.startswith(name)
        ]
        if p2 == 0x02:
            # next occurrence: the match after the one the same name selected last time
            if previous.select_name != name or previous.app not in matches:
                return _sw(SW_FILE_NOT_FOUND)
            matches = matches[matches.index(previous.app) + 1 :]
        if not matches:
            return _sw(SW_FILE_NOT_FOUND)
        index = matches[0]
        self.txn.app = index
        self.txn.select_name = name
        app = self.applications[index]
        fci = self._adf_fci(app.profile)
        if app.blocked:
            return fci + _sw(SW_SELECTED_FILE_INVALIDATED)
        return _ok(fci)

    def _pse_fci(self) -> bytes:
        """FCI of the PSE (Book 1 Table 43): 6F{84, A5{88 SFI, 5F2D}}."""
        proprietary = tlv.encode(0x88, bytes([PSE_SFI]))
        proprietary += tlv.encode(0x5F2D, self.profile.pse_languages.encode("ascii"))
        return tlv.encode(0x6F, tlv.encode(0x84, PSE_NAME) + tlv.encode(0xA5, proprietary))

    def _adf_fci(self, app: ApplicationProfile) -> bytes:
        """FCI of an ADF (Book 1 Table 45): 6F{84, A5{50, 87, 9F38, 5F2D, 9F12, BF0C}}."""
        items: list[tuple[int, bytes]] = [(0x50, app.data[0x50])]
        for tag in (0x87, 0x9F38, 0x5F2D, 0x9F12):
            if tag in app.data:
                items.append((tag, app.data[tag]))
        if app.log_format is not None:
            log_entry = bytes([app.log_sfi, app.log_records])
            items.append((0xBF0C, tlv.encode(0x9F4D, log_entry)))
        proprietary = tlv.encode_many(items)
        return tlv.encode(0x6F, tlv.encode(0x84, app.aid) + tlv.encode(0xA5, proprietary))

    def _pse_record(self, record: int) -> bytes | None:
        """Directory record N of the PSE (Book 1 12.2.3): one entry 61 per application."""
        if not 1 <= record <= len(self.applications):
            return None
        app = self.applications[record - 1].profile
        entry: list[tuple[int, bytes]] = [(0x4F, app.aid), (0x50, app.data[0x50])]
        for tag in (0x9F12, 0x87):
            if tag in app.data:
                entry.append((tag, app.data[tag]))
        return tlv.encode(0x70, tlv.encode(0x61, tlv.encode_many(entry)))

    # --- records -----------------------------------------------------------------------

    def _read_record(self, p1: int, p2: int, _data: bytes) -> bytes:
        if p2 & 0x07 != 0x04 or p1 == 0:
            return _sw(SW_WRONG_P1P2)
        sfi = p2 >> 3
        if self.txn.pse_selected:
            if sfi != PSE_SFI:
                return _sw(SW_FILE_NOT_FOUND)
            raw = self._pse_record(p1)
            return _sw(SW_RECORD_NOT_FOUND) if raw is None else _ok(raw)
        app = self._current_app()
        if app is None:
            return _sw(SW_CONDITIONS)
        if app.profile.log_format is not None and sfi == app.profile.log_sfi:
            if not 1 <= p1 <= len(app.log):
                return _sw(SW_RECORD_NOT_FOUND)
            return _ok(app.log[p1 - 1])
        records = app.personal.records
        if not any(key[0] == sfi for key in records):
            return _sw(SW_FILE_NOT_FOUND)
        raw = records.get((sfi, p1))
        if raw is None:
            return _sw(SW_RECORD_NOT_FOUND)
        if self.faults.malformed_record == (sfi, p1):
            raw = corrupt_tlv(raw)
        return _ok(raw)

    # --- GET PROCESSING OPTIONS (Book 3 6.5.8) -----------------------------------------

    def _gpo(self, p1: int, p2: int, data: bytes) -> bytes:
        if p1 or p2:
            return _sw(SW_WRONG_P1P2)
        app = self._current_app()
        if app is None or app.blocked or self.txn.gpo_done:
            return _sw(SW_CONDITIONS)
        try:
            template = tlv.decode_single(data, 0x83)
            expected = sum(e.length for e in dol.parse(app.profile.pdol))
        except (TlvError, DolError):
            return _sw(SW_WRONG_DATA)
        if len(template.value) != expected:
            return _sw(SW_WRONG_LENGTH)
        if app.profile.gpo_conditions_not_satisfied:
            return _sw(SW_CONDITIONS)
        self.txn.gpo_done = True
        self.txn.pdol_data = template.value
        aip, afl = app.profile.aip, app.personal.afl_bytes
        if app.profile.gpo_format == 1:
            return _ok(tlv.encode(0x80, aip + afl))
        return _ok(tlv.encode(0x77, tlv.encode(0x82, aip) + tlv.encode(0x94, afl)))

    # --- GET DATA (Book 3 6.5.7) -------------------------------------------------------

    def _get_data(self, p1: int, p2: int, _data: bytes) -> bytes:
        tag = (p1 << 8) | p2
        if tag == 0x9F17:
            return _ok(tlv.encode(tag, bytes([self.pin_try_counter])))
        app = self._current_app()
        if app is None:
            return _sw(SW_CONDITIONS)
        if tag == 0x9F36:
            return _ok(tlv.encode(tag, app.atc.to_bytes(2, "big")))
        if tag == 0x9F13:
            return _ok(tlv.encode(tag, app.last_online_atc.to_bytes(2, "big")))
        if tag == 0x9F4F and app.profile.log_format is not None:
            return _ok(tlv.encode(tag, app.profile.log_format))
        if tag == 0x9F14 and app.lower_limit is not None:
            return _ok(tlv.encode(tag, bytes([app.lower_limit])))
        if tag == 0x9F23 and app.upper_limit is not None:
            return _ok(tlv.encode(tag, bytes([app.upper_limit])))
        return _sw(SW_DATA_NOT_FOUND)

    # --- cardholder verification (Book 3 6.5.12, Book 2 7.2) ---------------------------

    def _get_challenge(self, p1: int, p2: int, _data: bytes) -> bytes:
        if p1 or p2:
            return _sw(SW_WRONG_P1P2)
        self._challenge = self._random(8)
        return _ok(self._challenge)

    def _icc_key(self) -> pki.IccKey | None:
        app = self._current_app()
        if app is not None and app.personal.icc_key is not None:
            return app.personal.icc_key
        return None

    def _verify(self, p1: int, p2: int, data: bytes) -> bytes:
        if p1 != 0x00 or p2 not in (0x80, 0x88):
            return _sw(SW_WRONG_P1P2)
        if self._pin is None:
            return _sw(SW_REF_DATA_NOT_USABLE)
        if self.pin_blocked:
            return _sw(SW_AUTH_BLOCKED)
        if p2 == 0x80:
            if len(data) != 8:
                return _sw(SW_WRONG_LENGTH)
            pin = parse_format2(data)
            if pin is None:
                return _sw(SW_WRONG_DATA)
        else:
            key = self._icc_key()
            if key is None:
                return _sw(SW_FUNCTION_NOT_SUPPORTED)
            challenge, self._challenge = self._challenge, None
            if challenge is None:
                return _sw(SW_CONDITIONS)
            if len(data) != key.length:
                return _sw(SW_WRONG_LENGTH)
            # A wrong header or challenge counts as a failed verification (Book 2 7.2).
            pin = parse_enciphered(pki.decipher_pin(key, data), challenge)
        cvr = self.txn.cvr
        cvr.offline_pin_performed = True
        if pin is not None and hmac.compare_digest(pin.encode(), self._pin.encode()):
            self.pin_try_counter = self.pin_try_limit
            cvr.offline_pin_failed = False
            return _ok()
        self.pin_try_counter -= 1
        cvr.offline_pin_failed = True
        if self.pin_try_counter == 0:
            cvr.pin_try_limit_exceeded = True
        return _sw(0x63C0 | self.pin_try_counter)

    # --- DDA (Book 3 6.5.9, Book 2 6.5) ------------------------------------------------

    def _internal_authenticate(self, p1: int, p2: int, data: bytes) -> bytes:
        if p1 or p2:
            return _sw(SW_WRONG_P1P2)
        app = self._current_app()
        key = self._icc_key()
        if app is None or key is None or not app.profile.aip[0] & 0x20:
            return _sw(SW_FUNCTION_NOT_SUPPORTED)
        if not data:
            return _sw(SW_WRONG_LENGTH)
        signature = pki.dda_signature(key, self._random(8), data)
        self.txn.cvr.dda_performed = True
        if app.profile.genac_format == 1:
            return _ok(tlv.encode(0x80, signature))
        return _ok(tlv.encode(0x77, tlv.encode(0x9F4B, signature)))

    # --- issuer authentication (Book 3 6.5.4, Book 2 8.2.1) ----------------------------

    def _check_arpc(self, app: ApplicationState, issuer_auth_data: bytes) -> bool:
        """ARPC method 1: 91 = ARPC(8) || ARC(2)."""
        if len(issuer_auth_data) < 10 or len(self.txn.ac) != 8:
            return False
        arpc, arc = issuer_auth_data[:8], issuer_auth_data[8:10]
        expected = arpc_method_1(app.icc_mk_ac, app.atc.to_bytes(2, "big"), self.txn.ac, arc)
        return hmac.compare_digest(arpc, expected)

    def _external_authenticate(self, p1: int, p2: int, data: bytes) -> bytes:
        if p1 or p2:
            return _sw(SW_WRONG_P1P2)
        app = self._current_app()
        if app is None or not app.profile.aip[0] & 0x04:
            return _sw(SW_INS_NOT_SUPPORTED)
        t = self.txn
        if t.first_ac != ARQC or t.second_ac is not None or t.external_authenticate_done:
            return _sw(SW_CONDITIONS)
        if not 8 <= len(data) <= 16:
            return _sw(SW_WRONG_LENGTH)
        t.external_authenticate_done = True
        t.issuer_auth = self._check_arpc(app, data)
        if not t.issuer_auth:
            t.cvr.issuer_authentication_failed = True
            return _sw(SW_AUTH_FAILED)
        return _ok()

    # --- GENERATE AC (Book 3 6.5.5) ----------------------------------------------------

    def _generate_ac(self, p1: int, p2: int, data: bytes) -> bytes:
        requested, cda = p1 & 0xC0, bool(p1 & 0x10)
        if requested == 0xC0 or p2:
            return _sw(SW_WRONG_P1P2)
        app = self._current_app()
        t = self.txn
        if app is None or not t.gpo_done:
            return _sw(SW_CONDITIONS)
        if t.first_ac is None:
            return self._first_generate_ac(app, requested, cda, data)
        if t.first_ac == ARQC and t.second_ac is None:
            if requested == ARQC:
                return _sw(SW_WRONG_P1P2)
            return self._second_generate_ac(app, requested, cda, data)
        return _sw(SW_CONDITIONS)

    def _first_generate_ac(
        self, app: ApplicationState, requested: int, cda: bool, data: bytes
    ) -> bytes:
        try:
            values = dol.split(app.profile.cdol1, data)
        except DolError:
            return _sw(SW_WRONG_LENGTH)
        if app.atc >= 0xFFFF:
            return _sw(SW_CONDITIONS)
        t, cvr = self.txn, self.txn.cvr
        app.atc += 1
        t.cdol1_data, t.cdol1_values = data, values
        risk = app.profile.card_risk
        cvr.last_online_not_completed = app.last_online_not_completed
        cvr.issuer_auth_failed_last_online = app.issuer_auth_failed_last_online
        cvr.new_card = app.last_online_atc == 0
        cvr.pin_try_limit_exceeded = cvr.pin_try_limit_exceeded or self.pin_blocked
        lower = app.lower_limit
        cvr.velocity_exceeded = lower is not None and app.consecutive_offline > lower
        decision = requested
        if app.blocked:
            decision = AAC
        elif requested == TC:
            if (
                risk.online_only
                or cvr.velocity_exceeded
                or (risk.new_card_online and cvr.new_card)
                or cvr.pin_try_limit_exceeded
                or cvr.issuer_auth_failed_last_online
                or cvr.last_online_not_completed
            ):
                decision = ARQC
        t.first_ac = decision
        cvr.first_ac = decision
        response = self._ac_response(app, decision, cda, values, data)
        if decision != ARQC:
            self._complete(app, values)
        return response

    def _second_generate_ac(
        self, app: ApplicationState, requested: int, cda: bool, data: bytes
    ) -> bytes:
        t, cvr = self.txn, self.txn.cvr
        try:
            values2 = dol.split(app.profile.cdol2, data)
        except DolError:
            return _sw(SW_WRONG_LENGTH)
        values = {**t.cdol1_values, **values2}
        arc = values2.get(0x8A, b"")
        iad = values2.get(0x91, b"")
        if iad.strip(b"\x00") and t.issuer_auth is None:
            t.issuer_auth = self._check_arpc(app, iad)
            cvr.issuer_authentication_failed = not t.issuer_auth
        risk = app.profile.card_risk
        decision = requested
        online_approved = arc in APPROVED_ARCS
        if arc in UNABLE_ONLINE_ARCS:
            cvr.unable_to_go_online = True
            upper = app.upper_limit
            if risk.online_only or (upper is not None and app.consecutive_offline > upper):
                decision = AAC
        elif not online_approved:
            decision = AAC
        if t.issuer_auth is False:
            decision = AAC
        elif t.issuer_auth is None and online_approved:
            cvr.issuer_auth_not_performed = True
            if risk.issuer_authentication_required:
                decision = AAC
        if app.blocked:
            decision = AAC
        t.second_ac = decision
        cvr.second_ac = decision
        # Counters after the online dialogue (Visa VIS card risk management updates).
        if online_approved and t.issuer_auth is not False:
            app.last_online_atc = app.atc
        app.issuer_auth_failed_last_online = t.issuer_auth is False
        app.last_online_not_completed = False
        response = self._ac_response(app, decision, cda, values, t.cdol1_data + data)
        self._complete(app, values)
        return response

    def _ac_response(
        self,
        app: ApplicationState,
        cid: int,
        cda: bool,
        values: dict[int, bytes],
        cdol_data: bytes,
    ) -> bytes:
        """Cryptogram plus the response in format 1 (80) or 2 (77); CDA uses 9F4B."""
        atc = app.atc.to_bytes(2, "big")
        iad = issuer_application_data(self.txn.cvr)
        ac_values = {**values, 0x82: app.profile.aip, 0x9F36: atc, 0x9F10: iad}
        ac = application_cryptogram(app.icc_mk_ac, ac_values)
        if self.txn.first_ac is not None and self.txn.second_ac is None:
            self.txn.ac = ac
        cid_byte = bytes([cid])
        key = app.personal.icc_key
        if cda and cid != AAC and key is not None and app.profile.aip[0] & 0x01:
            others = [(0x9F27, cid_byte), (0x9F36, atc), (0x9F10, iad)]
            hashed = self.txn.pdol_data + cdol_data + tlv.encode_many(others)
            tdhc = hashlib.sha1(hashed).digest()  # noqa: S324 - Book 2 6.6.1 mandates SHA-1
            un = values.get(0x9F37, bytes(4))
            signature = pki.cda_signature(key, self._random(8), cid_byte, ac, tdhc, un)
            body = tlv.encode_many(
                [(0x9F27, cid_byte), (0x9F36, atc), (0x9F4B, signature), (0x9F10, iad)]
            )
            return _ok(tlv.encode(0x77, body))
        if app.profile.genac_format == 1:
            return _ok(tlv.encode(0x80, cid_byte + atc + ac + iad))
        body = tlv.encode_many([(0x9F27, cid_byte), (0x9F36, atc), (0x9F26, ac), (0x9F10, iad)])
        return _ok(tlv.encode(0x77, body))

    def _complete(self, app: ApplicationState, values: dict[int, bytes]) -> None:
        """Write the transaction log record (Book 3 Annex D) when the card keeps a log."""
        log_format = app.profile.log_format
        if log_format is None:
            return
        final = self.txn.second_ac if self.txn.second_ac is not None else self.txn.first_ac
        source = {**values, 0x9F27: bytes([final or 0]), 0x9F36: app.atc.to_bytes(2, "big")}
        app.log.insert(0, dol.build(log_format, source))
        del app.log[app.profile.log_records :]

    # --- issuer scripts (Book 3 6.5.1-6.5.3, 6.5.10; Book 2 9) -------------------------

    def _script_command(self, apdu: bytes) -> bytes:
        name = SCRIPT_COMMANDS[(apdu[0], apdu[1])]
        sw = self._run_script_command(apdu)
        cvr = self.txn.cvr
        cvr.script_commands += 1
        if sw != SW_OK:
            cvr.script_failed = True
        self.script_results.append(ScriptResult(name, sw))
        return _sw(sw)

    def _run_script_command(self, apdu: bytes) -> int:
        app = self._current_app()
        t = self.txn
        if app is None or t.first_ac is None or len(t.ac) != 8:
            return SW_CONDITIONS
        mk_smi, mk_smc = sm.card_keys(app.profile.pan, app.profile.psn)
        atc = app.atc.to_bytes(2, "big")
        data = sm.verify_command_mac(sm.session_key(mk_smi, t.ac), apdu, atc, t.ac)
        if data is None:
            return SW_SM_INCORRECT
        ins, p1, p2 = apdu[1], apdu[2], apdu[3]
        if ins == 0x1E:
            app.blocked = True
        elif ins == 0x18:
            app.blocked = False
        elif ins == 0x16:
            self.card_blocked = True
        elif ins == 0x24:
            if p1 != 0x00 or p2 not in (0x00, 0x02):
                return SW_WRONG_P1P2
            if p2 == 0x02:
                if len(data) != 8:
                    return SW_WRONG_LENGTH
                new_pin = parse_format2(des.decrypt_ecb(sm.session_key(mk_smc, t.ac), data))
                if new_pin is None:
                    return SW_WRONG_DATA
                self._pin = new_pin
                self.test_pin = new_pin
            self.pin_try_counter = self.pin_try_limit
        elif ins == 0xDA:
            tag = (p1 << 8) | p2
            if tag not in app.profile.put_data_tags:
                return SW_DATA_NOT_FOUND
            if tag == 0x9F14 and len(data) == 1:
                app.lower_limit = data[0]
            elif tag == 0x9F23 and len(data) == 1:
                app.upper_limit = data[0]
            else:
                return SW_WRONG_DATA
        return SW_OK


SCRIPT_COMMANDS: dict[tuple[int, int], str] = {
    (0x84, 0x1E): "APPLICATION BLOCK",
    (0x84, 0x18): "APPLICATION UNBLOCK",
    (0x84, 0x16): "CARD BLOCK",
    (0x84, 0x24): "PIN CHANGE/UNBLOCK",
    (0x04, 0xDA): "PUT DATA",
}


def corrupt_tlv(data: bytes) -> bytes:
    """Drop the last byte, so the outermost data object claims more bytes than follow."""
    return data[:-1] if len(data) > 2 else b"\x6f\x05"
