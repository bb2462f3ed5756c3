"""Acquirer + issuer decisions of the host simulator (sans-I/O: documents in, documents out).

Authorisation (0100/0200), in this order; the first rule that hits gives DE 39:

1. duplicate (same terminal id, STAN, DE 7): the stored answer is replayed, nothing moves;
2. processing code other than 00/01/09/20 -> 12; Luhn failure -> 14; unknown BIN -> 15;
3. blocked PAN -> 05; expired (DE 14 before this month) -> 54;
4. chip/contactless entry without a valid ARQC (EMV Book 2 8.1.2) -> 05 and **no ARPC**;
5. online PIN (DE 52/53, DUKPT X9.24-1 TDES format 0 or X9.24-3 AES format 4) wrong -> 55;
6. amount rule: last two minor-unit digits listed in ``amount_suffix_codes`` -> that code;
7. velocity: more than ``max_count`` approvals or ``max_amount_minor`` per card in the window
   -> 65 / 61; debit above the balance -> 51; otherwise 00 and the balance moves.

AML alerts (large amount, many transactions per card in a window) are recorded, never declined.
When the ARQC verified, DE 55 tag 91 = ARPC method 1 (Book 2 8.2.1) || ARC, ARC = DE 39 in ASCII.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from acquirer_client import messages as m
from crypto import des, dukpt_aes, dukpt_tdes, pinblock
from emv import tlv
from hardware_sim.host import biometric, cardcrypto
from hardware_sim.host.ledger import CardState, Ledger, pan_hash
from hardware_sim.test_keys import issuer_for_pan

log = logging.getLogger(__name__)

CARD_KINDS = {"0100": "authorisation", "0200": "financial", "0220": "advice"}
CREDIT_CODES = ("20",)


def luhn_ok(pan: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(pan)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def original_key(doc: Mapping[str, str]) -> str:
    """Key of an original request: terminal id, STAN, DE 90 it would be named by."""
    return f"{doc['41'].strip()}:{doc['11']}:{m.original_data_elements(doc)}"


def reversal_target(doc: Mapping[str, str]) -> str:
    de90 = doc["90"]
    return f"{doc['41'].strip()}:{de90[4:10]}:{de90}"


@dataclass(frozen=True)
class CardChecks:
    """Outcome of the stateless card checks; ``code`` None means "go on to the rules"."""

    code: str | None
    session_key: cardcrypto.SessionKey | None = None  # set once the ARQC verified
    icc: dict[int, bytes] = field(default_factory=dict)
    arqc: bytes | None = None


@dataclass(frozen=True)
class LocalDay:
    """The local calendar day a timestamp falls in, kept by the issuer until it ends: the RRN's
    date digits and the expiry check need it on every request, and it changes once a day."""

    start: float
    end: float
    rrn_date: str  # YYDDD, the Julian date the RRN starts with
    year: int
    month: int

    @classmethod
    def of(cls, timestamp: float) -> LocalDay:
        day = datetime.fromtimestamp(timestamp).date()
        midnight = datetime.combine(day, datetime.min.time())
        following = datetime.combine(day + timedelta(days=1), datetime.min.time())
        return cls(
            midnight.timestamp(),
            following.timestamp(),
            day.strftime("%y%j"),
            day.year,
            day.month,
        )

    def holds(self, timestamp: float) -> bool:
        return self.start <= timestamp < self.end


class Issuer:
    """Processes one decoded request and returns the response document (or None)."""

    def __init__(
        self,
        rules: dict[str, Any],
        ledger: Ledger,
        now: Callable[[], float] = time.time,
        worker: int = 0,
    ) -> None:
        self.worker = worker % 10
        self.rules = rules
        self.ledger = ledger
        self.now = now
        self._rrn = itertools.count(1)
        self._auth = itertools.count(1)
        self._day = LocalDay.of(now())

    def _today(self) -> LocalDay:
        now = self.now()
        if not self._day.holds(now):
            self._day = LocalDay.of(now)
        return self._day

    # ------------------------------------------------------------------ dispatch

    def check(self, request: m.IsoDoc, icc: list[tlv.Tlv] | None = None) -> CardChecks | None:
        """The card checks that need no ledger (ARQC, PIN): run them outside the ledger lock,
        so several host workers sharing one ledger file do the cryptography in parallel.

        ``icc`` is DE 55 already decoded (``messages.decode_with_icc``); None decodes it here.
        """
        if request["t"] not in ("0100", "0200"):
            return None
        return self._card_checks(request, m.icc_data(request) if icc is None else icc)

    def handle(self, request: m.IsoDoc, checked: CardChecks | None = None) -> bytes:
        """Return the encoded response (replayed for a duplicate), in one ledger transaction.

        ``checked`` is :meth:`check`'s result for this request; None runs the checks here.
        """
        mti = request["t"]
        if checked is None:
            checked = self.check(request)
        with self.ledger.transaction():
            if mti in CARD_KINDS:
                return self._card(request, checked)
            if mti == "0400" or mti == "0420":
                return self._reversal(request)
            if mti == "0500":
                return self._reconcile(request)
            if mti == "0800":
                return m.encode(m.response_to(request, "00"))
            if mti == "0320":
                return self._batch_upload(request)
            return m.encode(m.response_to(request, "12"))

    # ------------------------------------------------------------------ card requests

    def _card(self, req: m.IsoDoc, checked: CardChecks | None) -> bytes:
        key = original_key(req)
        stored, reversed_first = self.ledger.lookup(key)
        if stored is not None:
            return stored
        pan = req.get("2", "")
        masked = m.mask_pan(pan)
        card_key = pan_hash(pan)
        now = self.now()
        card = self.ledger.card_state(
            card_key,
            now - float(self.rules.get("velocity", {}).get("window_seconds", 3600)),
            now - float(self.rules.get("aml", {}).get("window_seconds", 600)),
        )
        amount = int(req.get("4", "0"))
        pc = req.get("3", "000000")[:2]
        credit = pc in CREDIT_CODES
        mti = req["t"]
        extra: dict[str, str] = {}
        if mti == "0220" or checked is None:
            code, de55 = "00", None  # an advice reports a done deal: it cannot be declined
        else:
            code, de55 = self._decide(req, pan, amount, pc, checked, card)
        rrn = self._next_rrn()
        extra["de37"] = rrn
        if code == "00" and mti != "0220":
            extra["de38"] = f"{self.worker}{next(self._auth) % 100_000:05d}"
        if de55:
            extra["de55"] = de55.hex().upper()
        response = m.encode(m.response_to(req, code, **extra))
        status = "approved" if code == "00" else "declined"
        if status == "approved" and reversed_first:
            status = "reversed"  # the reversal overtook its original: apply neither
        txn_id = self.ledger.record(
            dedupe_key=key,
            kind=CARD_KINDS[mti],
            mti=mti,
            terminal_id=req.get("41", "").strip(),
            stan=req["11"],
            pan_hash=card_key if pan else None,
            pan_masked=masked,
            processing_code=req.get("3"),
            amount_minor=amount,
            signed_minor=-amount if credit else amount,
            currency=req.get("49"),
            response_code=code,
            auth_code=extra.get("de38"),
            rrn=rrn,
            status=status,
            response=response,
            created=now,
        )
        if status == "approved":
            self.ledger.adjust_balance_by_hash(
                card_key, masked, amount if credit else -amount, self._opening_balance(pan)
            )
        # this request is in the AML window too
        self._aml(txn_id, masked, amount, card.recent_requests + 1)
        return response

    def _card_checks(self, req: m.IsoDoc, icc_objects: list[tlv.Tlv]) -> CardChecks:
        """Stateless checks: processing code, PAN, BIN, expiry, ARQC, online PIN."""
        pan = req.get("2", "")
        psn = req.get("23", "000")[-2:]
        if req.get("3", "000000")[:2] not in m.PROCESSING_CODES.values():
            return CardChecks("12")
        if not pan or not luhn_ok(pan):
            return CardChecks("14")
        keys = issuer_for_pan(pan)
        if keys is None:
            return CardChecks("15")
        if pan in self.rules.get("blocked_pans", []):
            return CardChecks("05")
        if self._expired(req.get("14")):
            return CardChecks("54")
        icc = tlv.flatten(icc_objects)
        arqc = icc.get(0x9F26)
        sk: bytes | None = None
        if req.get("22", "")[:2] in ("05", "07") or arqc is not None:
            try:
                if arqc is None:
                    raise ValueError("no ARQC")
                mk = cardcrypto.icc_master_key(keys.imk_ac, pan, psn)
                sk = cardcrypto.session_key(mk, icc[0x9F36])
                ok = sk.arqc_matches(icc, arqc)
            except (KeyError, ValueError):
                ok = False
            if not ok:
                log.info("ARQC verification failed for %s", m.mask_pan(pan))
                return CardChecks("05")
        if "52" in req and not self._pin_ok(req, pan):
            return CardChecks("55", sk, icc, arqc)
        if "62" in req and not biometric.verified(req["62"], pan):
            return CardChecks(str(self.rules.get("biometric_decline_code", "05")), sk, icc, arqc)
        return CardChecks(None, sk, icc, arqc)

    def _decide(
        self, req: m.IsoDoc, pan: str, amount: int, pc: str, checked: CardChecks, card: CardState
    ) -> tuple[str, bytes | None]:
        if checked.session_key is None and checked.code is not None:
            return checked.code, None  # refused before the ARQC: no ARPC
        code = checked.code or self._rules_code(pan, amount, pc, card)
        de55 = None
        sk, icc, arqc = checked.session_key, checked.icc, checked.arqc
        if sk is not None and arqc is not None:
            arc = code.encode("ascii")
            arpc = sk.arpc_method_1(arqc, arc)
            de55 = tlv.encode(0x91, arpc + arc)
            if code == "00":
                psn = req.get("23", "000")[-2:]
                de55 += self._scripts(pan, psn, icc[0x9F36], arqc)
        return code, de55

    def _rules_code(self, pan: str, amount: int, pc: str, card: CardState) -> str:
        suffix = self.rules.get("amount_suffix_codes", {}).get(f"{amount % 100:02d}")
        if suffix:
            return str(suffix)
        if pc in CREDIT_CODES:
            return "00"
        velocity = self.rules.get("velocity", {})
        if card.approved_debits >= int(velocity.get("max_count", 1 << 30)):
            return "65"
        if card.approved_debit_amount + amount > int(velocity.get("max_amount_minor", 1 << 62)):
            return "61"
        balance = self._opening_balance(pan) if card.balance is None else card.balance
        if amount > balance:
            return "51"
        return "00"

    def _opening_balance(self, pan: str) -> int:
        return int(self.rules.get("balances", {}).get(pan, self._default_balance()))

    def _default_balance(self) -> int:
        return int(self.rules.get("default_balance_minor", 0))

    def _expired(self, yymm: str | None) -> bool:
        if not yymm or len(yymm) != 4:
            return False
        today = self._today()
        return (int(yymm[:2]), int(yymm[2:])) < (today.year % 100, today.month)

    def _pin_ok(self, req: m.IsoDoc, pan: str) -> bool:
        """Decrypt DE 52 under the DUKPT key of DE 53's KSN and compare with the card's PIN."""
        pins = self.rules.get("pins", {})
        expected = str(pins.get(pan, pins.get("default", "")))
        try:
            block = bytes.fromhex(req["52"])
            ksn = bytes.fromhex(req.get("53", ""))
            if len(ksn) == dukpt_tdes.KSN_LEN and len(block) == 8:
                key = dukpt_tdes.host_pin_key(bytes.fromhex(self.rules["dukpt_bdk_tdes"]), ksn)
                pin = pinblock.decode_format0(des.decrypt_ecb(key, block), pan)
            elif len(ksn) == dukpt_aes.KSN_LEN and len(block) == 16:
                key = dukpt_aes.host_pin_key(bytes.fromhex(self.rules["dukpt_bdk_aes128"]), ksn)
                pin = pinblock.decipher_format4(block, pan, key)
            else:
                return False
        except (ValueError, KeyError):
            return False
        return bool(expected) and pin == expected

    def _scripts(self, pan: str, psn: str, atc: bytes, arqc: bytes) -> bytes:
        """Issuer script templates 71/72 (Book 3 10.10) configured for this PAN.

        Each command is MACed with secure messaging as the card simulator checks it
        (``hardware_sim.card.secure_messaging``: SK_SMI from the issuer's IMK-SMI, R = ARQC,
        retail MAC over header || Lc || ATC || ARQC || data, EMV Book 2 9.2).
        """
        out = b""
        for rule in self.rules.get("scripts", []):
            if rule.get("pan", pan) != pan or not pan.endswith(str(rule.get("pan_suffix", ""))):
                continue
            # imported here: only hosts that send scripts need the card's SM scheme
            from hardware_sim.card.secure_messaging import issuer_script, script_command

            commands = [
                script_command(
                    pan,
                    psn,
                    atc,
                    arqc,
                    bytes.fromhex(c["header"]),
                    bytes.fromhex(c.get("data", "")),
                )
                for c in rule.get("commands", [])
            ]
            out += issuer_script(
                commands,
                template=int(rule.get("template", "72"), 16),
                script_id=bytes.fromhex(rule.get("script_id", "")),
            )
        return out

    def _aml(self, txn_id: int, masked: str, amount: int, count: int) -> None:
        """Alerts, never declines: a large amount, or ``count`` card requests in the window."""
        aml = self.rules.get("aml", {})
        if amount >= int(aml.get("large_amount_minor", 1 << 62)):
            self.ledger.add_alert(txn_id, masked, f"large amount {amount}")
        if count > int(aml.get("max_count", 1 << 30)):
            self.ledger.add_alert(txn_id, masked, f"{count} transactions in the window")

    def _next_rrn(self) -> str:
        return f"{self._today().rrn_date}{self.worker}{next(self._rrn) % 1_000_000:06d}"

    # ------------------------------------------------------------------ reversals

    def _reversal(self, req: m.IsoDoc) -> bytes:
        if "90" not in req:
            return m.encode(m.response_to(req, "30"))
        target = reversal_target(req)
        key = f"{req['t']}:{target}"
        stored = self.ledger.stored_response(key)
        if stored is not None:
            return stored
        original = self.ledger.original(target)
        status = "acknowledged"
        if original is not None and original.status == "approved":
            self.ledger.set_status(original.id, "reversed")
            if original.pan_hash:
                # give back what the original took (a debit's signed amount is positive)
                self.ledger.adjust_balance_by_hash(
                    original.pan_hash,
                    original.pan_masked or "",
                    original.signed_minor,
                    self._default_balance(),
                )
            status = "applied"
        elif original is None:
            status = "unmatched"  # the original never arrived (or not yet): remember it
        response = m.encode(m.response_to(req, "00"))
        self.ledger.record(
            dedupe_key=key,
            kind="reversal",
            mti=req["t"],
            terminal_id=req.get("41", "").strip(),
            stan=req["11"],
            original_key=target,
            pan_hash=original.pan_hash if original else None,
            pan_masked=original.pan_masked if original else None,
            amount_minor=int(req.get("4", "0")),
            currency=req.get("49"),
            response_code="00",
            status=status,
            response=response,
            created=self.now(),
        )
        return response

    # ------------------------------------------------------------------ reconciliation

    def _batch_upload(self, req: m.IsoDoc) -> bytes:
        """0320: book an original the host never saw (its 0220 was lost); else nothing."""
        if "90" not in req or "4" not in req:
            return m.encode(m.response_to(req, "30"))
        target = reversal_target(req)
        if self.ledger.original(target) is None and self.ledger.reversal_for(target) is None:
            pan = req.get("2", "")
            amount = int(req["4"])
            credit = req.get("3", "00")[:2] in CREDIT_CODES
            self.ledger.record(
                dedupe_key=target,
                kind="advice",
                mti="0320",
                terminal_id=req.get("41", "").strip(),
                stan=req["11"],
                pan_hash=_hash(pan),
                pan_masked=m.mask_pan(pan),
                processing_code=req.get("3"),
                amount_minor=amount,
                signed_minor=-amount if credit else amount,
                currency=req.get("49"),
                response_code="00",
                status="approved",
                created=self.now(),
            )
            if pan:
                self.ledger.adjust_balance(
                    pan, m.mask_pan(pan), amount if credit else -amount, self._opening_balance(pan)
                )
        return m.encode(m.response_to(req, "00"))

    def _reconcile(self, req: m.IsoDoc) -> bytes:
        try:
            theirs = m.totals_from(req)
        except m.MessageError:
            return m.encode(m.response_to(req, "30"))
        tid = req.get("41", "").strip()
        currency = req.get("49", "")
        ours = self.ledger.unsettled_totals(tid, currency)
        in_balance = (
            ours["debits_count"] == theirs.debits_count - theirs.debit_reversals_count
            and ours["debits_amount"] == theirs.debits_amount - theirs.debit_reversals_amount
            and ours["credits_count"] == theirs.credits_count - theirs.credit_reversals_count
            and ours["credits_amount"] == theirs.credits_amount - theirs.credit_reversals_amount
        )
        if in_balance:
            self.ledger.mark_settled(tid, currency)
        fields = {"de66": "1" if in_balance else "2"}
        return m.encode(m.response_to(req, "00" if in_balance else "95", **fields))


def _hash(pan: str) -> str | None:
    return pan_hash(pan) if pan else None
