"""Card Verification Results and Issuer Application Data, Visa VIS / CVN 18 layout.

Issuer Application Data (9F10), 7 bytes: ``06 | DKI 01 | CVN 12 | 03 | CVR(3)``.
The CVR bytes (after its length byte 03), as Visa's Integrated Circuit Card Specification
defines them for CVN 10/18:

* byte A: b8-b7 second GENERATE AC (00 AAC, 01 TC, 10 not requested);
  b6-b5 first GENERATE AC (00 AAC, 01 TC, 10 ARQC); b4 issuer authentication failed;
  b3 offline PIN verification performed; b2 offline PIN verification failed;
  b1 unable to go online.
* byte B: b8 last online transaction not completed; b7 PIN try limit exceeded;
  b6 exceeded velocity checking counters; b5 new card; b4 issuer authentication failure on
  last online transaction; b3 issuer authentication not performed after online
  authorisation; b2 application blocked because PIN try limit exceeded;
  b1 offline static data authentication failed on last transaction.
* byte C: b8-b5 number of issuer script commands processed; b4 issuer script processing
  failed; b3 offline dynamic data authentication failed on last transaction; b2 offline
  dynamic data authentication performed.
"""

from __future__ import annotations

from dataclasses import dataclass

DKI = 0x01
CVN_18 = 0x12

# CID / cryptogram types (Book 3 Table 14, GENERATE AC reference control parameter b8-b7)
AAC = 0x00
TC = 0x40
ARQC = 0x80

_FIRST_AC_BITS = {AAC: 0x00, TC: 0x10, ARQC: 0x20}
_SECOND_AC_BITS = {AAC: 0x00, TC: 0x40}
SECOND_AC_NOT_REQUESTED = 0x80


@dataclass
class Cvr:
    first_ac: int | None = None
    second_ac: int | None = None
    issuer_authentication_failed: bool = False
    offline_pin_performed: bool = False
    offline_pin_failed: bool = False
    unable_to_go_online: bool = False
    last_online_not_completed: bool = False
    pin_try_limit_exceeded: bool = False
    velocity_exceeded: bool = False
    new_card: bool = False
    issuer_auth_failed_last_online: bool = False
    issuer_auth_not_performed: bool = False
    blocked_pin_try_limit: bool = False
    sda_failed_last: bool = False
    script_commands: int = 0
    script_failed: bool = False
    dda_failed_last: bool = False
    dda_performed: bool = False

    def encode(self) -> bytes:
        a = 0
        if self.second_ac is None:
            a |= SECOND_AC_NOT_REQUESTED if self.first_ac == ARQC else 0
        else:
            a |= _SECOND_AC_BITS[self.second_ac]
        if self.first_ac is not None:
            a |= _FIRST_AC_BITS[self.first_ac]
        a |= 0x08 if self.issuer_authentication_failed else 0
        a |= 0x04 if self.offline_pin_performed else 0
        a |= 0x02 if self.offline_pin_failed else 0
        a |= 0x01 if self.unable_to_go_online else 0
        b = (
            (0x80 if self.last_online_not_completed else 0)
            | (0x40 if self.pin_try_limit_exceeded else 0)
            | (0x20 if self.velocity_exceeded else 0)
            | (0x10 if self.new_card else 0)
            | (0x08 if self.issuer_auth_failed_last_online else 0)
            | (0x04 if self.issuer_auth_not_performed else 0)
            | (0x02 if self.blocked_pin_try_limit else 0)
            | (0x01 if self.sda_failed_last else 0)
        )
        c = (
            (min(self.script_commands, 15) << 4)
            | (0x08 if self.script_failed else 0)
            | (0x04 if self.dda_failed_last else 0)
            | (0x02 if self.dda_performed else 0)
        )
        return bytes([a, b, c])


def issuer_application_data(cvr: Cvr) -> bytes:
    """9F10 value: ``06 01 12 03 <CVR>`` (7 bytes)."""
    return bytes([0x06, DKI, CVN_18, 0x03]) + cvr.encode()
