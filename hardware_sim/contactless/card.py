"""Simulated contactless card and phone applets (ISO 14443-4 payload level).

Same duck type as the contact card simulator: ``.atr``, ``.power_on()`` and
``.process(apdu) -> bytes``.  Two behaviours, chosen by the profile's ``kernel``:

* ``3`` - a Visa-like qVSDC application (EMV Contactless Book C-3 Annex / VCPS flow): the
  card decides in GET PROCESSING OPTIONS and returns the cryptogram, the CTQ and, for an
  offline approval, the fDDA signature 9F4B over ``9F37 || 9F02 || 5F2A || 9F69``.
* ``2`` - a Mastercard-like application (Book C-2): GPO returns AIP/AFL, GENERATE AC
  with CDA returns the cryptogram inside the SDAD (Book 2 6.6).

A kernel 2 card keeps its last GENERATE AC answer and the DRDOL data (9F51, default
amount, currency and unpredictable number) of that transaction, and answers RECOVER AC
(``80 D0 00 00``, Book C-2) with exactly that answer - no new cryptogram, ATC unchanged -
when the DRDOL data match, else 6A88 (nothing to recover).

Phones (``"cdcvm": true``) answer the first tap that needs cardholder verification with
"see phone" (C-3: SW 6986; C-2: AAC with POS Cardholder Interaction Information DF4B),
and approve the re-tap after the (simulated) unlock.

Cryptograms use the TEST-ONLY issuer master keys of :mod:`hardware_sim.test_keys`, so the
host simulator can verify the ARQC from DE 55.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from crypto.emv_cryptogram import application_cryptogram
from crypto.emv_keys import derive_icc_master_key_option_a
from emv import dol, tlv
from emv.oda import transaction_data_hash_code
from hardware_sim import pki
from hardware_sim.test_keys import issuer_for_pan

PPSE = b"2PAY.SYS.DDF01"
SW_OK = b"\x90\x00"
SW_NOT_FOUND = b"\x6a\x82"
SW_CONDITIONS = b"\x69\x85"
SW_SEE_PHONE = b"\x69\x86"
SW_RECORD_NOT_FOUND = b"\x6a\x83"
SW_INS = b"\x6d\x00"
SW_LENGTH = b"\x67\x00"
SW_NOTHING_TO_RECOVER = b"\x6a\x88"
DEFAULT_DRDOL = "9F02065F2A029F3704"

CID_AAC, CID_TC, CID_ARQC = 0x00, 0x40, 0x80
DEFAULT_ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")


def _bcd_amount(value: bytes) -> int:
    try:
        return int(value.hex())
    except ValueError:
        return 0


@dataclass
class ContactlessCard:
    """One payment application on a contactless card or phone, driven by a profile."""

    profile: dict[str, Any]
    atc: int = 0
    atr: bytes = DEFAULT_ATR
    selected: str = ""  # "", "ppse" or "aid"
    pdol_values: dict[int, bytes] = field(default_factory=dict)
    pdol_data: bytes = b""
    verification_pending: bool = False
    device_verified: bool = False
    commands: list[bytes] = field(default_factory=list)
    last_generate_ac: bytes = b""  # the last GENERATE AC answer, kept for RECOVER AC
    last_drdol_data: bytes = b""

    def __post_init__(self) -> None:
        p = self.profile
        self.name: str = p["name"]
        self.kernel: int = int(p["kernel"])
        self.aid = bytes.fromhex(p["aid"])
        self.pan: str = p["pan"]
        self.psn: str = p.get("psn", "00")
        self.expiry = bytes.fromhex(p["expiry"])  # YYMMDD
        self.atc = int(p.get("atc", 1))
        self.iad = bytes.fromhex(p["iad"])
        self.pdol = bytes.fromhex(p.get("pdol", ""))
        self.cdol1 = bytes.fromhex(p.get("cdol1", ""))
        self.drdol = bytes.fromhex(p.get("drdol", DEFAULT_DRDOL))
        self.offline_limit = int(p.get("offline_limit", 0))
        self.cdcvm = bool(p.get("cdcvm", False))
        self.online_pin = bool(p.get("online_pin", False))
        keys = issuer_for_pan(self.pan)
        if keys is None:
            raise ValueError(f"profile {self.name}: no test issuer keys for this BIN")
        self.icc_mk = derive_icc_master_key_option_a(keys.imk_ac, self.pan, self.psn)
        self.records = self._personalise()

    # --- personalisation ------------------------------------------------------------

    def _personalise(self) -> dict[tuple[int, int], bytes]:
        p = self.profile
        digits = self.pan + "D" + p["expiry"][:4] + p.get("service_code", "201") + "00000"
        track2 = bytes.fromhex(digits + ("F" if len(digits) % 2 else ""))
        rec1 = [(0x57, track2), (0x5F20, p.get("cardholder_name", "SIM/CARDHOLDER").encode())]
        rec1.append((0x5F34, bytes.fromhex(self.psn)))
        if self.kernel == 2:
            rec1 += [(0x8C, self.cdol1), (0x8E, bytes.fromhex(p["cvm_list"]))]
            rec1 += [(0x9F0D, bytes.fromhex(p["iac_default"]))]
            rec1 += [(0x9F0E, bytes.fromhex(p["iac_denial"]))]
            rec1 += [(0x9F0F, bytes.fromhex(p["iac_online"]))]
            if self.drdol:
                rec1.append((0x9F51, self.drdol))
        rec1 += [
            (0x5A, bytes.fromhex(self.pan + ("F" if len(self.pan) % 2 else ""))),
            (0x5F24, self.expiry),
            (0x9F4A, b"\x82"),
        ]
        if self.kernel == 3:
            rec1.append((0x9F69, self.card_auth_related_data()))
        record1 = tlv.encode_many(rec1)
        # Record 1/1 is the one signed for offline data authentication (AFL byte 4 = 1);
        # the certificates live in SFI 2, which is not signed (Book 3 10.3).
        oda, icc_key = pki.personalise_oda(
            "cda" if self.kernel == 2 else "dda",
            self.pan[:6],
            self.pan,
            self.expiry,
            record1,
            self.aip(),
        )
        if icc_key is None:  # pragma: no cover - dda/cda always return the ICC key
            raise ValueError(f"profile {self.name}: the test PKI gave no ICC key")
        self.icc_key = icc_key
        ca_record = tlv.encode_many([(t, oda[t]) for t in (0x8F, 0x90, 0x92, 0x9F32) if t in oda])
        icc_record = tlv.encode_many([(t, oda[t]) for t in (0x9F46, 0x9F47, 0x9F48) if t in oda])
        return {
            (1, 1): tlv.encode(0x70, record1),
            (2, 1): tlv.encode(0x70, ca_record),
            (2, 2): tlv.encode(0x70, icc_record),
        }

    def aip(self) -> bytes:
        return bytes.fromhex(self.profile["aip"])

    def card_auth_related_data(self) -> bytes:
        """9F69 (Book C-3): version 01, card unpredictable number (fixed here), CTQ."""
        return b"\x01" + bytes.fromhex(self.profile.get("card_un", "1A2B3C4D")) + self.ctq_base()

    def ctq_base(self) -> bytes:
        return bytes.fromhex(self.profile.get("ctq", "0000"))

    # --- ISO 7816 / 14443-4 entry points -----------------------------------------------

    def power_on(self) -> bytes:
        self.selected = ""
        if self.verification_pending:
            # The cardholder unlocked the phone between the two taps.
            self.verification_pending = False
            self.device_verified = True
        return self.atr

    def process(self, apdu: bytes) -> bytes:
        self.commands.append(bytes(apdu))
        if len(apdu) < 4:
            return SW_LENGTH
        cla, ins, p1, p2 = apdu[:4]
        data = apdu[5 : 5 + apdu[4]] if len(apdu) > 5 else b""
        if ins == 0xA4 and p1 == 0x04:
            return self._select(data)
        if ins == 0xA8 and self.selected == "aid":
            return self._gpo(data)
        if ins == 0xB2 and self.selected == "aid":
            record = self.records.get((p2 >> 3, p1))
            return record + SW_OK if record else SW_RECORD_NOT_FOUND
        if ins == 0xAE and self.selected == "aid" and self.kernel == 2:
            return self._generate_ac(p1, data)
        if ins == 0xD0 and self.selected == "aid" and self.kernel == 2:
            return self._recover_ac(data)
        if ins in (0xA8, 0xB2, 0xAE, 0xD0):
            return SW_CONDITIONS
        return SW_INS

    def _select(self, name: bytes) -> bytes:
        p = self.profile
        if name == PPSE:
            self.selected = "ppse"
            entry = [(0x4F, self.aid), (0x50, p["label"].encode())]
            if "priority" in p:
                entry.append((0x87, bytes([p["priority"]])))
            if "kernel_identifier" in p:
                entry.append((0x9F2A, bytes.fromhex(p["kernel_identifier"])))
            directory = tlv.encode(0x61, tlv.encode_many(entry))
            fci = tlv.encode_many([(0x84, PPSE), (0xA5, tlv.encode(0xBF0C, directory))])
            return tlv.encode(0x6F, fci) + SW_OK
        if name == self.aid:
            self.selected = "aid"
            prop = [(0x50, p["label"].encode()), (0x87, bytes([p.get("priority", 1)]))]
            if self.pdol:
                prop.append((0x9F38, self.pdol))
            fci = tlv.encode_many([(0x84, self.aid), (0xA5, tlv.encode_many(prop))])
            return tlv.encode(0x6F, fci) + SW_OK
        self.selected = ""
        return SW_NOT_FOUND

    def _parse_pdol(self, data: bytes) -> bytes | None:
        try:
            template = tlv.decode_single(data, 0x83)
            self.pdol_values = dol.split(self.pdol, template.value) if self.pdol else {}
        except Exception:  # noqa: BLE001 - a real card answers 6700 to any bad GPO data
            return None
        self.pdol_data = template.value
        return template.value

    def _cryptogram(self, values: dict[int, bytes], atc: bytes) -> bytes:
        merged = dict(values)
        merged[0x82] = self.aip()
        merged[0x9F36] = atc
        merged[0x9F10] = self.iad
        return application_cryptogram(self.icc_mk, merged)

    # --- Book C-3 (qVSDC) ----------------------------------------------------------------

    def _gpo(self, data: bytes) -> bytes:
        if self._parse_pdol(data) is None:
            return SW_LENGTH
        if self.kernel == 2:
            afl = bytes.fromhex("0801010110010200")
            return tlv.encode(0x77, tlv.encode_many([(0x82, self.aip()), (0x94, afl)])) + SW_OK
        return self._qvsdc()

    def _qvsdc(self) -> bytes:
        v = self.pdol_values
        ttq = v.get(0x9F66, bytes(4))
        amount = _bcd_amount(v.get(0x9F02, b""))
        cvm_required = bool(ttq[1] & 0x40)
        ctq = bytearray(self.ctq_base())
        if self.cdcvm and cvm_required:
            if not self.device_verified:
                self.verification_pending = True
                return SW_SEE_PHONE
            ctq[1] |= 0x80  # CTQ byte 2 b8: consumer device CVM performed
        elif cvm_required and self.online_pin and ttq[0] & 0x04:
            ctq[0] |= 0x80  # CTQ byte 1 b8: online PIN required
        elif cvm_required and ttq[0] & 0x02:
            ctq[0] |= 0x40  # CTQ byte 1 b7: signature required
        self.atc += 1
        atc = self.atc.to_bytes(2, "big")
        online = bool(ttq[1] & 0x80) or amount > self.offline_limit or bool(ctq[0] & 0x80)
        if self.profile.get("decline"):
            cid = CID_AAC
        elif online:
            cid = CID_ARQC
        else:
            cid = CID_TC
        values = {t: v.get(t, b"") for t in (0x9F02, 0x9F03, 0x9F1A, 0x95, 0x5F2A, 0x9A, 0x9C)}
        values[0x9F37] = v.get(0x9F37, bytes(4))
        ac = self._cryptogram(values, atc)
        afl = bytes.fromhex("08010100" if cid != CID_TC else "0801010110010200")
        items: list[tuple[int, bytes]] = [
            (0x82, self.aip()),
            (0x94, afl),
            (0x9F36, atc),
            (0x9F26, ac),
            (0x9F27, bytes([cid])),
            (0x9F10, self.iad),
            (0x9F6C, bytes(ctq)),
        ]
        if "form_factor" in self.profile:
            items.append((0x9F6E, bytes.fromhex(self.profile["form_factor"])))
        if cid == CID_TC:
            dynamic_number = hashlib.sha1(atc + ac).digest()[:4]
            terminal_data = (
                v.get(0x9F37, bytes(4))
                + v.get(0x9F02, bytes(6))
                + v.get(0x5F2A, bytes(2))
                + self.card_auth_related_data()
            )
            if self.profile.get("bad_fdda_signature"):
                terminal_data = terminal_data[:-1] + bytes([terminal_data[-1] ^ 0xFF])
            sdad = pki.dda_signature(self.icc_key, dynamic_number, terminal_data)
            items.append((0x9F4B, sdad))
        return tlv.encode(0x77, tlv.encode_many(items)) + SW_OK

    # --- Book C-2 (M/Chip-like) ---------------------------------------------------------

    def _recover_ac(self, drdol_data: bytes) -> bytes:
        """RECOVER AC (Book C-2): the torn GENERATE AC answer, if the DRDOL data match."""
        if not self.drdol or not self.last_generate_ac or drdol_data != self.last_drdol_data:
            return SW_NOTHING_TO_RECOVER
        return self.last_generate_ac + SW_OK

    def _generate_ac(self, p1: int, data: bytes) -> bytes:
        try:
            values = dol.split(self.cdol1, data)
        except Exception:  # noqa: BLE001 - a real card answers 6700 to bad CDOL data
            return SW_LENGTH
        answer = self._generate_ac_answer(p1, data, values)
        self.last_generate_ac = answer
        drdol_values = {**self.pdol_values, **values}
        try:
            self.last_drdol_data = dol.build(self.drdol, drdol_values) if self.drdol else b""
        except Exception:  # noqa: BLE001 - a DRDOL naming data the card lacks: no recovery
            self.last_generate_ac = b""
        return answer + SW_OK

    def _generate_ac_answer(self, p1: int, data: bytes, values: dict[int, bytes]) -> bytes:
        requested = p1 & 0xC0
        cda = bool(p1 & 0x10)
        amount = _bcd_amount(values.get(0x9F02, b""))
        interaction = None
        cvm_limit = int(self.profile.get("cdcvm_limit", 0))
        if self.cdcvm and amount > cvm_limit and not self.device_verified:
            self.verification_pending = True
            cid = CID_AAC
            interaction = bytes.fromhex("000001")  # byte 3 b1: OD-CVM required ("see phone")
        elif requested == 0x00 or self.profile.get("decline"):
            cid = CID_AAC
        elif requested == 0x40 and amount <= self.offline_limit:
            cid = CID_TC
        else:
            cid = CID_ARQC
        if self.cdcvm and self.device_verified and interaction is None:
            interaction = bytes.fromhex("001000")  # byte 2 b5: OD-CVM verification successful
        self.atc += 1
        atc = self.atc.to_bytes(2, "big")
        ac_values = {t: values.get(t, b"") for t in (0x9F02, 0x9F03, 0x9F1A, 0x95, 0x5F2A, 0x9A)}
        ac_values[0x9C] = values.get(0x9C, b"\x00")
        ac_values[0x9F37] = values.get(0x9F37, bytes(4))
        ac = self._cryptogram(ac_values, atc)
        items: list[tuple[int, bytes]] = [(0x9F27, bytes([cid])), (0x9F36, atc)]
        if interaction is not None:
            items.append((0xDF4B, interaction))
        items.append((0x9F10, self.iad))
        if cda and cid != CID_AAC:
            covered = tlv.encode_many(items)
            tx_hash = transaction_data_hash_code(self.pdol_data, data, None, covered)
            dynamic_number = hashlib.sha1(atc + ac).digest()[:8]
            sdad = pki.cda_signature(
                self.icc_key,
                dynamic_number,
                bytes([cid]),
                ac,
                tx_hash,
                values.get(0x9F37, bytes(4)),
            )
            items.append((0x9F4B, sdad))
        else:
            items.insert(2, (0x9F26, ac))
        return tlv.encode(0x77, tlv.encode_many(items))
