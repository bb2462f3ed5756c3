"""ANSI X9.143 / ASC X9 TR-31 key blocks, versions B (TDES, key derivation binding) and D (AES).

A key block is ASCII: a 16-character header (TR-31:2018 A.2/A.3) plus optional blocks
(A.5), the hex of the encrypted key data, and the hex of the MAC.

* Key data (A.4): 2-byte key length in bits || key || random padding to the cipher block size
  (optionally padded further to a "masked" key length so the true length does not show).
* Key derivation (5.3.2.1 B, 5.3.2.3 D): CMAC under the Key Block Protection Key (KBPK) of
  ``counter | usage (0000 encryption, 0001 MAC) | 00 | algorithm | length in bits``; algorithm
  0000 2TDEA, 0001 3TDEA, 0002 AES-128, 0003 AES-192, 0004 AES-256.  The encryption key (KBEK)
  and MAC key (KBMK) are as long as the KBPK.
* MAC (5.3.1.2 B, 5.3.1.4 D): CMAC(KBMK, header || clear key data), 8 bytes for B and 16 for D.
* Encryption: CBC under the KBEK with the MAC as IV.

Bad input (wrong KBPK, tampered block, malformed header) raises :class:`Tr31Error`.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

try:  # cryptography >= 43
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES

ALGORITHMS = frozenset("ADEHRST")
MODES_OF_USE = frozenset("BCDEGNSTVXY")
EXPORTABILITY = frozenset("ENS")
MAX_LENGTH = 9992


class Tr31Error(ValueError):
    """A TR-31 key block, header or key that cannot be wrapped or unwrapped."""


@dataclass(frozen=True)
class _Version:
    block: int
    mac_len: int
    kbpk_lengths: tuple[int, ...]


_VERSIONS = {
    "B": _Version(block=8, mac_len=8, kbpk_lengths=(16, 24)),
    "D": _Version(block=16, mac_len=16, kbpk_lengths=(16, 24, 32)),
}


@dataclass(frozen=True)
class Tr31Header:
    """Key block header fields (TR-31:2018 Table 1); the length field is computed on wrap."""

    version_id: str = "D"
    key_usage: str = "P0"
    algorithm: str = "A"
    mode_of_use: str = "E"
    key_version: str = "00"
    exportability: str = "N"
    optional_blocks: tuple[tuple[str, str], ...] = field(default=())
    reserved: str = "00"

    def __post_init__(self) -> None:
        if self.version_id not in _VERSIONS:
            raise Tr31Error(f"key block version {self.version_id!r} is not supported (B or D)")
        if len(self.key_usage) != 2 or not self.key_usage.isalnum():
            raise Tr31Error("the key usage must be 2 letters or digits")
        if len(self.algorithm) != 1 or self.algorithm not in ALGORITHMS:
            raise Tr31Error(f"the key block algorithm {self.algorithm!r} is not valid")
        if len(self.mode_of_use) != 1 or self.mode_of_use not in MODES_OF_USE:
            raise Tr31Error(f"the mode of use {self.mode_of_use!r} is not valid")
        if len(self.key_version) != 2 or not self.key_version.isalnum():
            raise Tr31Error("the key version number must be 2 letters or digits")
        if len(self.exportability) != 1 or self.exportability not in EXPORTABILITY:
            raise Tr31Error(f"the exportability {self.exportability!r} is not valid")
        if len(self.reserved) != 2 or not self.reserved.isalnum():
            raise Tr31Error("the reserved header field must be 2 characters")
        for block_id, data in self.optional_blocks:
            if len(block_id) != 2 or not block_id.isalnum() or not block_id.isascii():
                raise Tr31Error("an optional block ID must be 2 letters or digits")
            if block_id == "PB":
                raise Tr31Error("the padding block PB is added by wrap, not by the caller")
            if not all(" " <= c <= "~" for c in data):
                raise Tr31Error(f"optional block {block_id} must be printable ASCII")

    def encode(self, total_length: int) -> str:
        """The header text with ``total_length`` in its length field (and any PB block)."""
        return self._text(total_length)

    def _blocks_text(self) -> tuple[str, int]:
        block = _VERSIONS[self.version_id].block
        out, count = "", 0
        for block_id, data in self.optional_blocks:
            out += _encode_optional(block_id, data)
            count += 1
        if self.optional_blocks:
            pad = -(16 + len(out)) % block
            if pad:
                if pad < 4:
                    pad += block
                out += _encode_optional("PB", "0" * (pad - 4))
                count += 1
        if count > 99:
            raise Tr31Error("a key block holds at most 99 optional blocks")
        return out, count

    def _text(self, total_length: int) -> str:
        blocks, count = self._blocks_text()
        return (
            f"{self.version_id}{total_length:04d}{self.key_usage}{self.algorithm}"
            f"{self.mode_of_use}{self.key_version}{self.exportability}{count:02d}"
            f"{self.reserved}{blocks}"
        )

    def header_length(self) -> int:
        return 16 + len(self._blocks_text()[0])


def _encode_optional(block_id: str, data: str) -> str:
    length = 4 + len(data)
    if length <= 0xFF:
        return f"{block_id}{length:02X}{data}"
    # Extended length (A.5.1): "00", the length field's size in bytes, then the length in hex.
    length = 2 + 2 + 2 + 4 + len(data)
    if length > 0xFFFF:
        raise Tr31Error(f"optional block {block_id} is too long")
    return f"{block_id}0002{length:04X}{data}"


def _parse_header(text: str) -> tuple[Tr31Header, int, int]:
    """Parse a key block's header; returns (header, declared length, header length)."""
    if len(text) < 16 or not text.isascii():
        raise Tr31Error("the key block is too short or not ASCII")
    length_field = text[1:5]
    if not length_field.isdigit():
        raise Tr31Error("the key block length field is not 4 digits")
    count_field = text[12:14]
    if not count_field.isdigit():
        raise Tr31Error("the optional block count is not 2 digits")
    pos = 16
    blocks: list[tuple[str, str]] = []
    for _ in range(int(count_field)):
        block_id = text[pos : pos + 2]
        if len(block_id) != 2 or not block_id.isalnum():
            raise Tr31Error("an optional block ID is malformed")
        length_hex = text[pos + 2 : pos + 4]
        try:
            length = int(length_hex, 16)
            body = pos + 4
            if length == 0:
                size = 2 * int(text[pos + 4 : pos + 6], 16)
                if size == 0 or len(text) < pos + 6 + size:
                    raise ValueError
                length = int(text[pos + 6 : pos + 6 + size], 16)
                body = pos + 6 + size
        except ValueError:
            raise Tr31Error(f"optional block {block_id} has a malformed length") from None
        end = pos + length
        if end < body or end > len(text):
            raise Tr31Error(f"optional block {block_id} runs past the key block")
        if block_id != "PB":
            blocks.append((block_id, text[body:end]))
        pos = end
    header = Tr31Header(
        version_id=text[0],
        key_usage=text[5:7],
        algorithm=text[7],
        mode_of_use=text[8],
        key_version=text[9:11],
        exportability=text[11],
        optional_blocks=tuple(blocks),
        reserved=text[14:16],
    )
    return header, int(length_field), pos


# -- primitives -----------------------------------------------------------------------------


def _cipher_algorithm(version_id: str, key: bytes) -> algorithms.AES | TripleDES:
    if version_id == "D":
        return algorithms.AES(key)
    return TripleDES(key + key[:8] if len(key) == 16 else key)


def _cmac(version_id: str, key: bytes, data: bytes) -> bytes:
    mac = CMAC(_cipher_algorithm(version_id, key))
    mac.update(data)
    return mac.finalize()


def _cbc(version_id: str, key: bytes, iv: bytes, data: bytes, *, decrypt: bool) -> bytes:
    cipher = Cipher(_cipher_algorithm(version_id, key), modes.CBC(iv))
    op = cipher.decryptor() if decrypt else cipher.encryptor()
    return op.update(data) + op.finalize()


_ALGORITHM_IDS = {
    ("B", 16): (0x0000, 128),
    ("B", 24): (0x0001, 192),
    ("D", 16): (0x0002, 128),
    ("D", 24): (0x0003, 192),
    ("D", 32): (0x0004, 256),
}


def derive_keys(version_id: str, kbpk: bytes) -> tuple[bytes, bytes]:
    """(KBEK, KBMK) from the KBPK (TR-31:2018 5.3.2.1 for B, 5.3.2.3 for D)."""
    version = _VERSIONS.get(version_id)
    if version is None:
        raise Tr31Error(f"key block version {version_id!r} is not supported (B or D)")
    if len(kbpk) not in version.kbpk_lengths:
        sizes = ", ".join(str(n) for n in version.kbpk_lengths)
        raise Tr31Error(f"a version {version_id} KBPK is {sizes} bytes, not {len(kbpk)}")
    algorithm, bits = _ALGORITHM_IDS[(version_id, len(kbpk))]
    keys = []
    for usage in (0x0000, 0x0001):
        out = b""
        counter = 1
        while len(out) < len(kbpk):
            data = (
                bytes([counter])
                + usage.to_bytes(2, "big")
                + b"\x00"
                + algorithm.to_bytes(2, "big")
                + bits.to_bytes(2, "big")
            )
            out += _cmac(version_id, kbpk, data)
            counter += 1
        keys.append(out[: len(kbpk)])
    return keys[0], keys[1]


# -- wrap / unwrap --------------------------------------------------------------------------


def wrap(
    kbpk: bytes,
    key: bytes,
    header: Tr31Header,
    *,
    masked_key_length: int | None = None,
    padding: bytes | None = None,
) -> str:
    """Build the key block protecting ``key`` under ``kbpk``.

    ``masked_key_length`` pads the key data as if the key were that long; ``padding`` fixes
    the random pad bytes (known-answer tests only).
    """
    version = _VERSIONS[header.version_id]
    kbek, kbmk = derive_keys(header.version_id, kbpk)
    if not key:
        raise Tr31Error("there is no key to wrap")
    if len(key) > len(kbpk):
        raise Tr31Error("the key to wrap must not be longer than the KBPK")
    if header.version_id == "B" and len(key) not in (8, 16, 24):
        raise Tr31Error("a version B key block wraps a DES key of 8, 16 or 24 bytes")
    masked = max(len(key), masked_key_length or 0)
    pad_len = masked - len(key) + (-(2 + masked) % version.block)
    if padding is None:
        padding = os.urandom(pad_len)
    elif len(padding) != pad_len:
        raise Tr31Error(f"the key data padding must be {pad_len} bytes")
    clear = (len(key) * 8).to_bytes(2, "big") + key + padding
    total = header.header_length() + 2 * len(clear) + 2 * version.mac_len
    if total > MAX_LENGTH:
        raise Tr31Error("the key block would be longer than 9992 characters")
    text = header.encode(total)
    mac = _cmac(header.version_id, kbmk, text.encode("ascii") + clear)[: version.mac_len]
    encrypted = _cbc(header.version_id, kbek, mac, clear, decrypt=False)
    return text + encrypted.hex().upper() + mac.hex().upper()


def unwrap(kbpk: bytes, block: str) -> tuple[Tr31Header, bytes]:
    """Check the key block's MAC and return (header, key)."""
    block = block.strip()
    header, declared, header_len = _parse_header(block)
    if declared != len(block):
        raise Tr31Error(f"the key block says it is {declared} characters but is {len(block)}")
    version = _VERSIONS[header.version_id]
    kbek, kbmk = derive_keys(header.version_id, kbpk)
    body = block[header_len:]
    data_hex, mac_hex = body[: -2 * version.mac_len], body[-2 * version.mac_len :]
    if len(body) <= 2 * version.mac_len or len(data_hex) % (2 * version.block):
        raise Tr31Error("the key block's encrypted key data has a wrong length")
    try:
        encrypted, mac = bytes.fromhex(data_hex), bytes.fromhex(mac_hex)
    except ValueError:
        raise Tr31Error("the key block's key data or MAC is not hexadecimal") from None
    clear = _cbc(header.version_id, kbek, mac, encrypted, decrypt=True)
    expected = _cmac(header.version_id, kbmk, block[:header_len].encode("ascii") + clear)
    if not hmac.compare_digest(expected[: version.mac_len], mac):
        raise Tr31Error("the key block MAC is wrong (wrong KBPK or tampered block)")
    bits = int.from_bytes(clear[:2], "big")
    if bits == 0 or bits % 8 or bits // 8 > len(clear) - 2:
        raise Tr31Error("the key block's key length field is invalid")
    return header, clear[2 : 2 + bits // 8]
