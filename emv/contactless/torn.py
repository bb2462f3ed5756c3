"""Kernel 2 Torn Transaction Log and RECOVER AC (EMV Contactless Book C-2 section 4.6 and
the S456 / S10 recovery steps).

A card that leaves the field after GENERATE AC was sent may have computed (and counted in
its ATC) the cryptogram without the reader receiving it.  The kernel then keeps a Torn
Transaction Log record holding what is needed to finish that transaction later: the PAN
(here only masked plus a SHA-256 digest, never in clear), the PAN Sequence Number, the
DRDOL Related Data (DF8113) sent with RECOVER AC, and the PDOL / CDOL1 Related Data and
terminal data the torn GENERATE AC used (CDA of the recovered answer is verified over
them, Book 2 6.6.2).

On the next tap of the same card (same PAN and PSN, record younger than Max Lifetime of
Torn Transaction Log Record DF811C) the kernel sends RECOVER AC (C-2 5.x: CLA 80, INS D0,
P1 P2 00 00, data = DRDOL Related Data, Le 00).  A 9000 answer is the torn GENERATE AC
answer and completes the transaction with it; any other status word (6A88: nothing to
recover) drops the record and the kernel carries on with a fresh GENERATE AC.  A log that
is full (Max Number of Torn Transaction Log Records DF811D) drops its oldest record.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from emv.apdu import CommandApdu
from emv.contactless.outcome import Cvm

TAG_DRDOL = 0x9F51
INS_RECOVER_AC = 0xD0
DEFAULT_MAX_LIFETIME_S = 300  # DF811C
DEFAULT_MAX_RECORDS = 5  # DF811D


def recover_ac(drdol_data: bytes) -> CommandApdu:
    """RECOVER AC (Book C-2): 80 D0 00 00 Lc DRDOL-Related-Data 00."""
    return CommandApdu(0x80, INS_RECOVER_AC, 0x00, 0x00, drdol_data, 0x00)


def pan_digest(pan: str) -> bytes:
    return hashlib.sha256(pan.encode()).digest()


@dataclass(frozen=True)
class TornRecord:
    """One entry of the Torn Transaction Log (C-2 4.6); the PAN is stored masked."""

    masked_pan: str
    pan_hash: bytes
    pan_sequence_number: bytes
    amount_minor: int
    cdol1_data: bytes
    pdol_data: bytes = b""
    drdol_data: bytes = b""
    reference_control: int = 0  # P1 of the torn GENERATE AC
    terminal_data: dict[int, bytes] = field(default_factory=dict, repr=False)
    tvr: bytes = bytes(5)
    cvm: Cvm = Cvm.NA
    cvm_results: bytes = b"\x3f\x00\x00"
    logged_at: datetime = datetime.min

    def belongs_to(self, pan: str, psn: bytes) -> bool:
        return self.pan_hash == pan_digest(pan) and self.pan_sequence_number == psn


@dataclass
class TornLog:
    """The log itself, with the C-2 clean-up and size rules."""

    max_lifetime_s: int = DEFAULT_MAX_LIFETIME_S
    max_records: int = DEFAULT_MAX_RECORDS
    records: list[TornRecord] = field(default_factory=list)
    expired: list[TornRecord] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> TornRecord:
        return self.records[index]

    def add(self, record: TornRecord) -> None:
        if self.max_records <= 0:
            return
        self.records.append(record)
        while len(self.records) > self.max_records:
            self.expired.append(self.records.pop(0))

    def clean(self, now: datetime) -> None:
        """Move records older than the max lifetime out of the log (C-2 torn clean-up)."""
        limit = timedelta(seconds=self.max_lifetime_s)
        keep = [r for r in self.records if now - r.logged_at <= limit]
        self.expired += [r for r in self.records if now - r.logged_at > limit]
        self.records = keep

    def find(self, pan: str, psn: bytes) -> TornRecord | None:
        """The most recent record for this card, if any."""
        for record in reversed(self.records):
            if record.belongs_to(pan, psn):
                return record
        return None

    def remove(self, record: TornRecord) -> None:
        self.records = [r for r in self.records if r is not record]
