"""Exceptions raised by the EMV kernel and its helpers.

Every exception carries a message that can be shown to a user as one sentence.
"""

from __future__ import annotations


class EmvError(Exception):
    """Base class of every EMV-layer error."""


class TlvError(EmvError):
    """BER-TLV data that does not follow EMV Book 3 Annex B."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (at byte {offset})")
        self.offset = offset


class TlvTruncatedError(TlvError):
    """A tag, length or value runs past the end of the data."""


class TlvLengthError(TlvError):
    """A length field uses a form EMV forbids (indefinite, or more than 3 subsequent bytes)."""


class TlvTagError(TlvError):
    """A tag field is malformed (too long, or a reserved value)."""


class TlvTrailingDataError(TlvError):
    """Bytes are left over after the data object(s) that were expected."""


class DolError(EmvError):
    """A Data Object List (PDOL, CDOL, DDOL, TDOL) is malformed."""


class CardError(EmvError):
    """The card or the link to it failed."""


class CardRemovedError(CardError):
    """The card left the reader (or the field) during the dialogue."""

    def __init__(self, message: str = "card removed") -> None:
        super().__init__(message)


class CardTransportError(CardError):
    """The reader could not exchange an APDU with the card."""


class CardProtocolError(EmvError):
    """The card answered with data or a status word that breaks the EMV rules."""
