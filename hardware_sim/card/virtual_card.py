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

from crypto.emv_cryptogram import application_cryptogram, arpc_method_1
from crypto.emv_keys import derive_icc_master_key_option_a
from emv import dol, tlv
from emv.errors import DolError, TlvError
from hardware_sim import pki
from hardware_sim.card import biometric, scripts
from hardware_sim.card.cvr import AAC, ARQC, TC, issuer_application_data
from hardware_sim.card.fci import PSE_NAME, PSE_SFI, adf_fci, pse_fci, pse_record
from hardware_sim.card.pin import parse_enciphered, parse_format2
from hardware_sim.card.profile import ApplicationProfile, CardProfile
from hardware_sim.card.records import personalise
from hardware_sim.card.scripts import SCRIPT_COMMANDS
from hardware_sim.card.state import ApplicationState, ScriptResult, Transaction
from hardware_sim.card.status import (
    SW_AUTH_BLOCKED,
    SW_AUTH_FAILED,
    SW_CLA_NOT_SUPPORTED,
    SW_CONDITIONS,
    SW_DATA_NOT_FOUND,
    SW_FILE_NOT_FOUND,
    SW_FUNCTION_NOT_SUPPORTED,
    SW_INS_NOT_SUPPORTED,
    SW_NO_DIAGNOSIS,
    SW_OK,
    SW_RECORD_NOT_FOUND,
    SW_REF_DATA_NOT_USABLE,
    SW_SELECTED_FILE_INVALIDATED,
    SW_WRONG_DATA,
    SW_WRONG_LENGTH,
    SW_WRONG_P1P2,
    ok,
    sw,
)
from hardware_sim.test_keys import issuer_for_pan

APPROVED_ARCS = (b"00", b"08", b"10", b"11")
UNABLE_ONLINE_ARCS = (b"Y3", b"Z3")
# TEST-ONLY issuer master key for cards whose BIN has no test issuer (the host declines
# those as "unknown issuer" before it ever checks a cryptogram).
UNKNOWN_ISSUER_IMK = bytes.fromhex("11111111111111112222222222222222")

__all__ = ["ScriptResult", "VirtualCard", "corrupt_tlv"]


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
        app = self.current_application()
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
            response = sw(SW_NO_DIAGNOSIS)
        if faults.wrong_sw_at_apdu == self.apdu_count:
            return sw(faults.wrong_sw)
        if faults.malformed_tlv_at_apdu == self.apdu_count:
            return corrupt_tlv(response[:-2]) + response[-2:]
        return response

    # --- dispatch ---------------------------------------------------------------------

    def _dispatch(self, apdu: bytes) -> bytes:
        if len(apdu) < 4:
            return sw(SW_WRONG_LENGTH)
        cla, ins, p1, p2 = apdu[:4]
        data = b""
        if len(apdu) > 5:
            lc = apdu[4]
            if len(apdu) not in (5 + lc, 6 + lc) or lc == 0:
                return sw(SW_WRONG_LENGTH)
            data = apdu[5 : 5 + lc]
        handlers: dict[tuple[int, int], Callable[[int, int, bytes], bytes]] = {
            (0x00, 0xA4): self._select,
            (0x00, 0xB2): self._read_record,
            (0x80, 0xA8): self._gpo,
            (0x80, 0xCA): self._get_data,
            (0x00, 0x20): self._verify,
            (0x00, 0x21): lambda p1, p2, d: biometric.verify(self, 0x00, p1, p2, d),
            (0x10, 0x21): lambda p1, p2, d: biometric.verify(self, 0x10, p1, p2, d),
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
            return sw(SW_CLA_NOT_SUPPORTED)
        return sw(SW_INS_NOT_SUPPORTED)

    def current_application(self) -> ApplicationState | None:
        return None if self.txn.app is None else self.applications[self.txn.app]

    # --- selection (Book 1 Section 11.3 and 12) ----------------------------------------

    def _select(self, p1: int, p2: int, name: bytes) -> bytes:
        if p1 != 0x04 or p2 not in (0x00, 0x02):
            return sw(SW_WRONG_P1P2)
        if self.card_blocked:
            return sw(SW_FUNCTION_NOT_SUPPORTED)
        previous = self.txn
        if previous.first_ac == ARQC and previous.second_ac is None and previous.app is not None:
            self.applications[previous.app].last_online_not_completed = True
        self.txn = Transaction()
        if name == PSE_NAME and self.profile.pse:
            if p2 == 0x02:
                return sw(SW_FILE_NOT_FOUND)
            self.txn.pse_selected = True
            self.txn.select_name = name
            return ok(pse_fci(self.profile.pse_languages))
        matches = [
            i for i, a in enumerate(self.applications) if name and a.profile.aid.startswith(name)
        ]
        if p2 == 0x02:
            # next occurrence: the match after the one the same name selected last time
            if previous.select_name != name or previous.app not in matches:
                return sw(SW_FILE_NOT_FOUND)
            matches = matches[matches.index(previous.app) + 1 :]
        if not matches:
            return sw(SW_FILE_NOT_FOUND)
        index = matches[0]
        self.txn.app = index
        self.txn.select_name = name
        app = self.applications[index]
        fci = adf_fci(app.profile)
        if app.blocked:
            return fci + sw(SW_SELECTED_FILE_INVALIDATED)
        return ok(fci)

    # --- records -----------------------------------------------------------------------

    def _read_record(self, p1: int, p2: int, _data: bytes) -> bytes:
        if p2 & 0x07 != 0x04 or p1 == 0:
            return sw(SW_WRONG_P1P2)
        sfi = p2 >> 3
        if self.txn.pse_selected:
            if sfi != PSE_SFI:
                return sw(SW_FILE_NOT_FOUND)
            raw = pse_record([a.profile for a in self.applications], p1)
            return sw(SW_RECORD_NOT_FOUND) if raw is None else ok(raw)
        app = self.current_application()
        if app is None:
            return sw(SW_CONDITIONS)
        if app.profile.log_format is not None and sfi == app.profile.log_sfi:
            if not 1 <= p1 <= len(app.log):
                return sw(SW_RECORD_NOT_FOUND)
            return ok(app.log[p1 - 1])
        records = app.personal.records
        if not any(key[0] == sfi for key in records):
            return sw(SW_FILE_NOT_FOUND)
        raw = records.get((sfi, p1))
        if raw is None:
            return sw(SW_RECORD_NOT_FOUND)
        if self.faults.malformed_record == (sfi, p1):
            raw = corrupt_tlv(raw)
        return ok(raw)

    # --- GET PROCESSING OPTIONS (Book 3 6.5.8) -----------------------------------------

    def _gpo(self, p1: int, p2: int, data: bytes) -> bytes:
        if p1 or p2:
            return sw(SW_WRONG_P1P2)
        app = self.current_application()
        if app is None or app.blocked or self.txn.gpo_done:
            return sw(SW_CONDITIONS)
        try:
            template = tlv.decode_single(data, 0x83)
            expected = sum(e.length for e in dol.parse(app.profile.pdol))
        except (TlvError, DolError):
            return sw(SW_WRONG_DATA)
        if len(template.value) != expected:
            return sw(SW_WRONG_LENGTH)
        if app.profile.gpo_conditions_not_satisfied:
            return sw(SW_CONDITIONS)
        self.txn.gpo_done = True
        self.txn.pdol_data = template.value
        aip, afl = app.profile.aip, app.personal.afl_bytes
        if app.profile.gpo_format == 1:
            return ok(tlv.encode(0x80, aip + afl))
        return ok(tlv.encode(0x77, tlv.encode(0x82, aip) + tlv.encode(0x94, afl)))

    # --- GET DATA (Book 3 6.5.7) -------------------------------------------------------

    def _get_data(self, p1: int, p2: int, _data: bytes) -> bytes:
        tag = (p1 << 8) | p2
        if tag == 0x9F17:
            return ok(tlv.encode(tag, bytes([self.pin_try_counter])))
        app = self.current_application()
        if app is None:
            return sw(SW_CONDITIONS)
        if tag == 0x9F36:
            return ok(tlv.encode(tag, app.atc.to_bytes(2, "big")))
        if tag == 0x9F13:
            return ok(tlv.encode(tag, app.last_online_atc.to_bytes(2, "big")))
        if tag == 0x9F4F and app.profile.log_format is not None:
            return ok(tlv.encode(tag, app.profile.log_format))
        if tag == 0x9F14 and app.lower_limit is not None:
            return ok(tlv.encode(tag, bytes([app.lower_limit])))
        if tag == 0x9F23 and app.upper_limit is not None:
            return ok(tlv.encode(tag, bytes([app.upper_limit])))
        return sw(SW_DATA_NOT_FOUND)

    # --- cardholder verification (Book 3 6.5.12, Book 2 7.2) ---------------------------

    def _get_challenge(self, p1: int, p2: int, _data: bytes) -> bytes:
        if p1 or p2:
            return sw(SW_WRONG_P1P2)
        self._challenge = self._random(8)
        return ok(self._challenge)

    def _icc_key(self) -> pki.IccKey | None:
        app = self.current_application()
        if app is not None and app.personal.icc_key is not None:
            return app.personal.icc_key
        return None

    def _verify(self, p1: int, p2: int, data: bytes) -> bytes:
        if p1 != 0x00 or p2 not in (0x80, 0x88):
            return sw(SW_WRONG_P1P2)
        if self._pin is None:
            return sw(SW_REF_DATA_NOT_USABLE)
        if self.pin_blocked:
            return sw(SW_AUTH_BLOCKED)
        if p2 == 0x80:
            if len(data) != 8:
                return sw(SW_WRONG_LENGTH)
            pin = parse_format2(data)
            if pin is None:
                return sw(SW_WRONG_DATA)
        else:
            key = self._icc_key()
            if key is None:
                return sw(SW_FUNCTION_NOT_SUPPORTED)
            challenge, self._challenge = self._challenge, None
            if challenge is None:
                return sw(SW_CONDITIONS)
            if len(data) != key.length:
                return sw(SW_WRONG_LENGTH)
            # A wrong header or challenge counts as a failed verification (Book 2 7.2).
            pin = parse_enciphered(pki.decipher_pin(key, data), challenge)
        cvr = self.txn.cvr
        cvr.offline_pin_performed = True
        if pin is not None and hmac.compare_digest(pin.encode(), self._pin.encode()):
            self.pin_try_counter = self.pin_try_limit
            cvr.offline_pin_failed = False
            return ok()
        self.pin_try_counter -= 1
        cvr.offline_pin_failed = True
        if self.pin_try_counter == 0:
            cvr.pin_try_limit_exceeded = True
        return sw(0x63C0 | self.pin_try_counter)

    # --- DDA (Book 3 6.5.9, Book 2 6.5) ------------------------------------------------

    def _internal_authenticate(self, p1: int, p2: int, data: bytes) -> bytes:
        if p1 or p2:
            return sw(SW_WRONG_P1P2)
        app = self.current_application()
        key = self._icc_key()
        if app is None or key is None or not app.profile.aip[0] & 0x20:
            return sw(SW_FUNCTION_NOT_SUPPORTED)
        if not data:
            return sw(SW_WRONG_LENGTH)
        signature = pki.dda_signature(key, self._random(8), data)
        self.txn.cvr.dda_performed = True
        if app.profile.genac_format == 1:
            return ok(tlv.encode(0x80, signature))
        return ok(tlv.encode(0x77, tlv.encode(0x9F4B, signature)))

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
            return sw(SW_WRONG_P1P2)
        app = self.current_application()
        if app is None or not app.profile.aip[0] & 0x04:
            return sw(SW_INS_NOT_SUPPORTED)
        t = self.txn
        if t.first_ac != ARQC or t.second_ac is not None or t.external_authenticate_done:
            return sw(SW_CONDITIONS)
        if not 8 <= len(data) <= 16:
            return sw(SW_WRONG_LENGTH)
        t.external_authenticate_done = True
        t.issuer_auth = self._check_arpc(app, data)
        if not t.issuer_auth:
            t.cvr.issuer_authentication_failed = True
            return sw(SW_AUTH_FAILED)
        return ok()

    # --- GENERATE AC (Book 3 6.5.5) ----------------------------------------------------

    def _generate_ac(self, p1: int, p2: int, data: bytes) -> bytes:
        requested, cda = p1 & 0xC0, bool(p1 & 0x10)
        if requested == 0xC0 or p2:
            return sw(SW_WRONG_P1P2)
        app = self.current_application()
        t = self.txn
        if app is None or not t.gpo_done:
            return sw(SW_CONDITIONS)
        if t.first_ac is None:
            return self._first_generate_ac(app, requested, cda, data)
        if t.first_ac == ARQC and t.second_ac is None:
            if requested == ARQC:
                return sw(SW_WRONG_P1P2)
            return self._second_generate_ac(app, requested, cda, data)
        return sw(SW_CONDITIONS)

    def _first_generate_ac(
        self, app: ApplicationState, requested: int, cda: bool, data: bytes
    ) -> bytes:
        try:
            values = dol.split(app.profile.cdol1, data)
        except DolError:
            return sw(SW_WRONG_LENGTH)
        if app.atc >= 0xFFFF:
            return sw(SW_CONDITIONS)
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
            return sw(SW_WRONG_LENGTH)
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
            return ok(tlv.encode(0x77, body))
        if app.profile.genac_format == 1:
            return ok(tlv.encode(0x80, cid_byte + atc + ac + iad))
        body = tlv.encode_many([(0x9F27, cid_byte), (0x9F36, atc), (0x9F26, ac), (0x9F10, iad)])
        return ok(tlv.encode(0x77, body))

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
        status = scripts.execute(self, apdu)
        cvr = self.txn.cvr
        cvr.script_commands += 1
        if status != SW_OK:
            cvr.script_failed = True
        self.script_results.append(ScriptResult(name, status))
        return sw(status)

    def change_pin(self, pin: str) -> None:
        """PIN CHANGE by issuer script: the simulated cardholder learns the new PIN too."""
        self._pin = pin
        self.test_pin = pin


def corrupt_tlv(data: bytes) -> bytes:
    """Drop the last byte, so the outermost data object claims more bytes than follow."""
    return data[:-1] if len(data) > 2 else b"\x6f\x05"
