"""AES DUKPT (ANSI X9.24-3:2017).

KSN (12 bytes) = Initial Key ID (8 bytes: BDK ID 4 + Derivation ID 4) + 32-bit transaction
counter; a usable counter has at most 16 one bits (6.1).

Every key is produced by the key derivation function of 6.3.1 (NIST SP 800-108 counter mode
with AES-ECB as PRF): ``AES(derivation key, derivation data)`` for ``ceil(L/128)`` blocks, where
the 16-byte derivation data (6.3.2, Table 2) is::

    01 | block counter | key usage (2) | algorithm (2) | length in bits (2) | 8 bytes

The last 8 bytes are the full Initial Key ID when deriving the Initial Key from the BDK, and
Derivation ID || counter otherwise.

* Initial Key = KDF(BDK, usage 8001 "key derivation, initial key", BDK type, IKID) (6.3.3).
* Intermediate derivation keys: from the Initial Key, for each one bit of the counter from the
  most significant, KDF(key, usage 8000 "key derivation", BDK type, partial counter) (6.3.4).
* Working keys: KDF(transaction derivation key, usage, working key type, counter) (6.3.5).

:class:`AesDukptOriginator` is the device of 6.4 with 32 intermediate derivation key registers.
Not implemented: HMAC working keys and the "Update Initial Key" (counter FFFFFFFF) procedure.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from crypto import pinblock

KSN_LEN = 12
IKID_LEN = 8
COUNTER_BITS = 32
COUNTER_MASK = (1 << COUNTER_BITS) - 1
MAX_ONE_BITS = 16


class DukptAesError(ValueError):
    """A key, KSN or device state that ANSI X9.24-3 AES DUKPT does not allow."""


class KeyUsage(IntEnum):
    """Key usage indicator of the derivation data (X9.24-3:2017 Table 2)."""

    KEY_ENCRYPTION_KEY = 0x0002
    PIN_ENCRYPTION = 0x1000
    MAC_GENERATION = 0x2000
    MAC_VERIFICATION = 0x2001
    MAC_BOTH_WAYS = 0x2002
    DATA_ENCRYPTION_ENCRYPT = 0x3000
    DATA_ENCRYPTION_DECRYPT = 0x3001
    DATA_ENCRYPTION_BOTH_WAYS = 0x3002
    KEY_DERIVATION = 0x8000
    KEY_DERIVATION_INITIAL_KEY = 0x8001


class KeyType(Enum):
    """Algorithm indicator and length of the derived key (X9.24-3:2017 Table 2)."""

    TDES_2KEY = (0x0000, 128)
    TDES_3KEY = (0x0001, 192)
    AES128 = (0x0002, 128)
    AES192 = (0x0003, 192)
    AES256 = (0x0004, 256)

    @property
    def indicator(self) -> int:
        return self.value[0]

    @property
    def bits(self) -> int:
        return self.value[1]

    @property
    def is_aes(self) -> bool:
        return self.name.startswith("AES")


_AES_TYPES = {16: KeyType.AES128, 24: KeyType.AES192, 32: KeyType.AES256}


def key_type_for(key: bytes) -> KeyType:
    """The AES key type of a BDK or derivation key, from its length."""
    try:
        return _AES_TYPES[len(key)]
    except KeyError:
        raise DukptAesError("an AES DUKPT derivation key is 16, 24 or 32 bytes") from None


def _check_ksn(ksn: bytes) -> None:
    if len(ksn) != KSN_LEN:
        raise DukptAesError("an AES DUKPT KSN is 12 bytes")


def ksn_counter(ksn: bytes) -> int:
    _check_ksn(ksn)
    return int.from_bytes(ksn[IKID_LEN:], "big")


def initial_key_id(ksn: bytes) -> bytes:
    _check_ksn(ksn)
    return ksn[:IKID_LEN]


def make_ksn(ikid: bytes, counter: int) -> bytes:
    if len(ikid) != IKID_LEN:
        raise DukptAesError("an AES DUKPT Initial Key ID is 8 bytes")
    if not 0 <= counter <= COUNTER_MASK:
        raise DukptAesError("the AES DUKPT transaction counter is 32 bits")
    return ikid + counter.to_bytes(4, "big")


def is_valid_counter(counter: int) -> bool:
    """A counter an originator can use: non-zero, 32 bits, at most 16 one bits (6.1)."""
    return 0 < counter <= COUNTER_MASK and counter.bit_count() <= MAX_ONE_BITS


def _aes_ecb(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def derivation_data(usage: int, key_type: KeyType, tail: bytes) -> bytes:
    """The 16-byte derivation data of 6.3.2 with block counter 1."""
    if len(tail) != 8:
        raise DukptAesError("the derivation data ends with 8 bytes of ID and counter")
    return (
        bytes([0x01, 0x01])
        + usage.to_bytes(2, "big")
        + key_type.indicator.to_bytes(2, "big")
        + key_type.bits.to_bytes(2, "big")
        + tail
    )


def derive_key(derivation_key: bytes, key_type: KeyType, data: bytes) -> bytes:
    """Key derivation function of 6.3.1: AES-ECB over the data for each 128-bit block."""
    key_type_for(derivation_key)
    out = b""
    for block in range(1, (key_type.bits + 127) // 128 + 1):
        out += _aes_ecb(derivation_key, data[:1] + bytes([block]) + data[2:])
    return out[: key_type.bits // 8]


def derive_initial_key(bdk: bytes, ikid: bytes) -> bytes:
    """Initial Key from the BDK and the 8-byte Initial Key ID (6.3.3)."""
    bdk_type = key_type_for(bdk)
    if len(ikid) != IKID_LEN:
        raise DukptAesError("an AES DUKPT Initial Key ID is 8 bytes")
    data = derivation_data(KeyUsage.KEY_DERIVATION_INITIAL_KEY, bdk_type, ikid)
    return derive_key(bdk, bdk_type, data)


def _intermediate(key: bytes, ikid: bytes, counter: int) -> bytes:
    key_type = key_type_for(key)
    tail = ikid[4:] + counter.to_bytes(4, "big")
    return derive_key(key, key_type, derivation_data(KeyUsage.KEY_DERIVATION, key_type, tail))


def derive_transaction_key(initial_key: bytes, ksn: bytes) -> bytes:
    """Transaction derivation key for ``ksn`` from the device's Initial Key (6.3.4)."""
    key_type_for(initial_key)
    ikid, counter = initial_key_id(ksn), ksn_counter(ksn)
    key, partial = initial_key, 0
    for bit in range(COUNTER_BITS - 1, -1, -1):
        if counter & (1 << bit):
            partial |= 1 << bit
            key = _intermediate(key, ikid, partial)
    return key


def derive_working_key(
    transaction_key: bytes, ksn: bytes, usage: KeyUsage, key_type: KeyType = KeyType.AES128
) -> bytes:
    """Working key of ``usage`` and ``key_type`` from the transaction derivation key (6.3.5)."""
    tk_type = key_type_for(transaction_key)
    if key_type.bits > tk_type.bits:
        raise DukptAesError("a working key cannot be longer than its derivation key")
    tail = initial_key_id(ksn)[4:] + ksn[IKID_LEN:]
    return derive_key(transaction_key, key_type, derivation_data(usage, key_type, tail))


def host_working_key(
    bdk: bytes, ksn: bytes, usage: KeyUsage, key_type: KeyType = KeyType.AES128
) -> bytes:
    """Host side: working key straight from the BDK (X9.24-3 6.5 "Host Derive Working Key")."""
    ik = derive_initial_key(bdk, initial_key_id(ksn))
    return derive_working_key(derive_transaction_key(ik, ksn), ksn, usage, key_type)


def pin_encryption_key(
    transaction_key: bytes, ksn: bytes, key_type: KeyType = KeyType.AES128
) -> bytes:
    return derive_working_key(transaction_key, ksn, KeyUsage.PIN_ENCRYPTION, key_type)


def mac_request_key(
    transaction_key: bytes, ksn: bytes, key_type: KeyType = KeyType.AES128
) -> bytes:
    """MAC generation key (device -> host messages)."""
    return derive_working_key(transaction_key, ksn, KeyUsage.MAC_GENERATION, key_type)


def mac_response_key(
    transaction_key: bytes, ksn: bytes, key_type: KeyType = KeyType.AES128
) -> bytes:
    """MAC verification key (host -> device messages)."""
    return derive_working_key(transaction_key, ksn, KeyUsage.MAC_VERIFICATION, key_type)


def data_encryption_request_key(
    transaction_key: bytes, ksn: bytes, key_type: KeyType = KeyType.AES128
) -> bytes:
    return derive_working_key(transaction_key, ksn, KeyUsage.DATA_ENCRYPTION_ENCRYPT, key_type)


def data_encryption_response_key(
    transaction_key: bytes, ksn: bytes, key_type: KeyType = KeyType.AES128
) -> bytes:
    return derive_working_key(transaction_key, ksn, KeyUsage.DATA_ENCRYPTION_DECRYPT, key_type)


def host_pin_key(bdk: bytes, ksn: bytes, key_type: KeyType = KeyType.AES128) -> bytes:
    """PIN encryption key for ``ksn`` from the BDK (what the host HSM computes)."""
    return host_working_key(bdk, ksn, KeyUsage.PIN_ENCRYPTION, key_type)


@dataclass(frozen=True)
class Transaction:
    """The KSN sent with a message and the transaction derivation key the device used."""

    ksn: bytes
    key: bytes


class AesDukptOriginator:
    """Device side of X9.24-3:2017 6.4: 32 intermediate derivation key registers.

    The Initial Key fills the registers once and is not kept.  :meth:`next_transaction`
    hands out the current derivation key and KSN, derives the registers below the counter's
    lowest one bit from it, erases it and advances the counter, skipping counters with more
    than 16 one bits.
    """

    def __init__(self, initial_key: bytes, ikid: bytes, counter: int = 0) -> None:
        key_type_for(initial_key)
        if len(ikid) != IKID_LEN:
            raise DukptAesError("an AES DUKPT Initial Key ID is 8 bytes")
        if counter:
            raise DukptAesError("an AES DUKPT device is loaded with counter 0")
        self._ikid = ikid
        self._registers: list[bytes | None] = [None] * COUNTER_BITS
        self._fill(initial_key, 0, COUNTER_BITS)
        self._counter = 1

    @classmethod
    def from_bdk(cls, bdk: bytes, ikid: bytes) -> AesDukptOriginator:
        return cls(derive_initial_key(bdk, ikid), ikid)

    def _fill(self, key: bytes, counter: int, below: int) -> None:
        for bit in range(below - 1, -1, -1):
            self._registers[bit] = _intermediate(key, self._ikid, counter | (1 << bit))

    @property
    def counter(self) -> int:
        return self._counter

    @property
    def ksn(self) -> bytes:
        return make_ksn(self._ikid, min(self._counter, COUNTER_MASK))

    @property
    def exhausted(self) -> bool:
        return self._counter > COUNTER_MASK

    def next_transaction(self) -> Transaction:
        if self.exhausted:
            raise DukptAesError("the DUKPT device has used all its keys and must be re-keyed")
        counter = self._counter
        lowest = (counter & -counter).bit_length() - 1
        key = self._registers[lowest]
        if key is None:  # pragma: no cover - impossible unless state is corrupted
            raise DukptAesError("the DUKPT intermediate key register is empty")
        ksn = make_ksn(self._ikid, counter)
        if counter.bit_count() < MAX_ONE_BITS:
            self._fill(key, counter, lowest)
            self._counter = counter + 1
        else:
            self._counter = counter + (1 << lowest)
        self._registers[lowest] = None
        return Transaction(ksn, key)

    def export_state(self) -> dict[str, object]:
        """Non-volatile state: KSN and intermediate derivation key registers (secret, hex)."""
        return {
            "ksn": make_ksn(self._ikid, min(self._counter, COUNTER_MASK)).hex().upper(),
            "exhausted": self.exhausted,
            "registers": {
                str(bit): key.hex().upper()
                for bit, key in enumerate(self._registers)
                if key is not None
            },
        }

    @classmethod
    def from_state(cls, state: dict[str, object]) -> AesDukptOriginator:
        """Rebuild a device from :meth:`export_state` output."""
        try:
            ksn = bytes.fromhex(str(state["ksn"]))
            raw = state["registers"]
            if not isinstance(raw, dict):
                raise TypeError
            registers = {int(bit): bytes.fromhex(str(key)) for bit, key in raw.items()}
        except (KeyError, TypeError, ValueError):
            raise DukptAesError("the saved DUKPT device state is malformed") from None
        counter = ksn_counter(ksn)
        if not is_valid_counter(counter) and not state.get("exhausted"):
            raise DukptAesError("the saved DUKPT device state has an unusable counter")
        if any(not 0 <= b < COUNTER_BITS or len(k) not in _AES_TYPES for b, k in registers.items()):
            raise DukptAesError("the saved DUKPT device state is malformed")
        self = cls.__new__(cls)
        self._ikid = initial_key_id(ksn)
        self._registers = [registers.get(bit) for bit in range(COUNTER_BITS)]
        self._counter = COUNTER_MASK + 1 if state.get("exhausted") else counter
        lowest = (counter & -counter).bit_length() - 1
        if not self.exhausted and self._registers[lowest] is None:
            raise DukptAesError("the saved DUKPT device state lacks the current key")
        return self

    def encrypt_pin(self, pin: str, pan: str, random: bytes | None = None) -> tuple[bytes, bytes]:
        """ISO 9564 format 4 PIN block under this transaction's AES-128 PIN key: (block, KSN).

        The PIN and PAN are checked before a key is consumed.
        """
        pinblock.format4_pin_field(pin, random)
        pinblock.format4_pan_field(pan)
        txn = self.next_transaction()
        key = pin_encryption_key(txn.key, txn.ksn)
        return pinblock.encipher_format4(pin, pan, key, random), txn.ksn
