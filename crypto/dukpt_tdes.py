"""TDES DUKPT (ANSI X9.24-1:2009, Annex A) for double-length keys.

Key Serial Number (KSN, 10 bytes): 59-bit Initial KSN + 21-bit transaction counter.

* Initial PIN Encryption Key (IPEK, A.6 "Derive Initial Key"): left = TDES(BDK, IKSN8),
  right = TDES(BDK XOR C0C0C0C000000000C0C0C0C000000000, IKSN8), where IKSN8 is the leftmost
  8 bytes of the KSN with the counter cleared.
* Non-reversible key generation process (A.2, used by "New Key-3" and by the host in A.6).
* Host-side current-key derivation (A.6 "Calculate DUKPT key"): walk the counter's one bits
  from the most significant one down.
* Variants (A.4 / Table A-1) XOR the current key: PIN ``..FF`` byte 7/15, MAC request byte 6/14,
  MAC response byte 4/12, data request byte 5/13, data response byte 3/11.  The data keys of
  X9.24-1:2009 are additionally passed through the one-way function
  ``TDES(variant, left) || TDES(variant, right)`` (A.4.1).
* :class:`TdesDukptOriginator` is the PIN-entry device state machine of A.2 ("Load Initial
  Key", "Request PIN Entry", "New Key", "New Key-1..4") with 21 Future Key Registers; it never
  keeps a key it has used and skips counters with more than 10 one bits.
"""

from __future__ import annotations

from dataclasses import dataclass

from crypto import des, pinblock

KSN_LEN = 10
KEY_LEN = 16
COUNTER_BITS = 21
COUNTER_MASK = (1 << COUNTER_BITS) - 1
MAX_ONE_BITS = 10
_KEY_MASK = bytes.fromhex("C0C0C0C000000000C0C0C0C000000000")

PIN_VARIANT = bytes.fromhex("00000000000000FF00000000000000FF")
MAC_REQUEST_VARIANT = bytes.fromhex("000000000000FF00000000000000FF00")
MAC_RESPONSE_VARIANT = bytes.fromhex("00000000FF00000000000000FF000000")
DATA_REQUEST_VARIANT = bytes.fromhex("0000000000FF00000000000000FF0000")
DATA_RESPONSE_VARIANT = bytes.fromhex("000000FF00000000000000FF00000000")


class DukptError(ValueError):
    """A key, KSN or device state that ANSI X9.24-1 DUKPT does not allow."""


def _check_key(key: bytes, what: str) -> None:
    if len(key) != KEY_LEN:
        raise DukptError(f"the {what} must be a 16-byte double-length TDES key")


def _check_ksn(ksn: bytes) -> None:
    if len(ksn) != KSN_LEN:
        raise DukptError("a TDES DUKPT KSN is 10 bytes")


def ksn_counter(ksn: bytes) -> int:
    """The 21-bit transaction counter of a KSN."""
    _check_ksn(ksn)
    return int.from_bytes(ksn, "big") & COUNTER_MASK


def initial_ksn(ksn: bytes) -> bytes:
    """The KSN with its transaction counter cleared."""
    _check_ksn(ksn)
    return (int.from_bytes(ksn, "big") & ~COUNTER_MASK).to_bytes(KSN_LEN, "big")


def with_counter(ksn: bytes, counter: int) -> bytes:
    """The KSN carrying ``counter`` in its counter bits."""
    if not 0 <= counter <= COUNTER_MASK:
        raise DukptError("the TDES DUKPT transaction counter is 21 bits")
    return (int.from_bytes(initial_ksn(ksn), "big") | counter).to_bytes(KSN_LEN, "big")


def is_valid_counter(counter: int) -> bool:
    """A counter an originator can use: non-zero, 21 bits, at most 10 one bits (A.2)."""
    return 0 < counter <= COUNTER_MASK and counter.bit_count() <= MAX_ONE_BITS


def derive_ipek(bdk: bytes, ksn: bytes) -> bytes:
    """Initial PIN Encryption Key (IPEK) from the BDK and any KSN of the device (A.6)."""
    _check_key(bdk, "BDK")
    iksn8 = initial_ksn(ksn)[:8]
    left = des.encrypt_ecb(bdk, iksn8)
    right = des.encrypt_ecb(des.xor(bdk, _KEY_MASK), iksn8)
    return left + right


def _encrypt_register(key: bytes, register: bytes) -> bytes:
    """Steps 1-3 of the non-reversible key generation process on one half."""
    right = key[8:]
    return des.xor(des.encrypt_ecb(key[:8], des.xor(register, right)), right)


def non_reversible_key(key: bytes, register: bytes) -> bytes:
    """Non-reversible key generation process (A.2): new key from a key and Crypto Register-1.

    ``register`` is the rightmost 64 bits of the KSN carrying the partial counter.
    """
    _check_key(key, "key")
    if len(register) != 8:
        raise DukptError("the crypto register is 8 bytes")
    right = _encrypt_register(key, register)
    left = _encrypt_register(des.xor(key, _KEY_MASK), register)
    return left + right


def _register(ksn: bytes, counter: int) -> bytes:
    return with_counter(ksn, counter)[2:]


def derive_transaction_key(ipek: bytes, ksn: bytes) -> bytes:
    """The current key for ``ksn`` from the device's IPEK (host algorithm, A.6)."""
    _check_key(ipek, "IPEK")
    counter = ksn_counter(ksn)
    key = ipek
    partial = 0
    for bit in range(COUNTER_BITS - 1, -1, -1):
        if counter & (1 << bit):
            partial |= 1 << bit
            key = non_reversible_key(key, _register(ksn, partial))
    return key


def host_transaction_key(bdk: bytes, ksn: bytes) -> bytes:
    """The current key for ``ksn`` from the BDK (host side)."""
    return derive_transaction_key(derive_ipek(bdk, ksn), ksn)


def pin_encryption_key(transaction_key: bytes) -> bytes:
    """PIN encryption key variant (Table A-1)."""
    _check_key(transaction_key, "transaction key")
    return des.xor(transaction_key, PIN_VARIANT)


def mac_request_key(transaction_key: bytes) -> bytes:
    """MAC key for request messages, or both ways (Table A-1)."""
    _check_key(transaction_key, "transaction key")
    return des.xor(transaction_key, MAC_REQUEST_VARIANT)


def mac_response_key(transaction_key: bytes) -> bytes:
    """MAC key for response messages (Table A-1)."""
    _check_key(transaction_key, "transaction key")
    return des.xor(transaction_key, MAC_RESPONSE_VARIANT)


def _one_way(variant_key: bytes) -> bytes:
    return des.encrypt_ecb(variant_key, variant_key[:8]) + des.encrypt_ecb(
        variant_key, variant_key[8:]
    )


def data_encryption_request_key(transaction_key: bytes) -> bytes:
    """Data encryption key for requests or both ways: variant then one-way function (A.4.1)."""
    _check_key(transaction_key, "transaction key")
    return _one_way(des.xor(transaction_key, DATA_REQUEST_VARIANT))


def data_encryption_response_key(transaction_key: bytes) -> bytes:
    """Data encryption key for responses: variant then one-way function (A.4.1)."""
    _check_key(transaction_key, "transaction key")
    return _one_way(des.xor(transaction_key, DATA_RESPONSE_VARIANT))


def host_pin_key(bdk: bytes, ksn: bytes) -> bytes:
    """PIN encryption key for ``ksn`` from the BDK (what the host HSM computes)."""
    return pin_encryption_key(host_transaction_key(bdk, ksn))


def encrypt_pin_block(transaction_key: bytes, clear_block: bytes) -> bytes:
    """TDES-encrypt an 8-byte ISO 9564 PIN block under the PIN variant of the current key."""
    if len(clear_block) != 8:
        raise DukptError("a TDES PIN block is 8 bytes")
    return des.encrypt_ecb(pin_encryption_key(transaction_key), clear_block)


def decrypt_pin_block(transaction_key: bytes, encrypted_block: bytes) -> bytes:
    if len(encrypted_block) != 8:
        raise DukptError("a TDES PIN block is 8 bytes")
    return des.decrypt_ecb(pin_encryption_key(transaction_key), encrypted_block)


@dataclass(frozen=True)
class Transaction:
    """The KSN sent with a message and the current key the device used for it."""

    ksn: bytes
    key: bytes


class TdesDukptOriginator:
    """PIN-entry device side of X9.24-1:2009 A.2 (Future Key Registers, KSN counter).

    The IPEK is used once to fill the 21 Future Key Registers and is not kept.  Each
    :meth:`next_transaction` hands out the current key and KSN, then derives the future keys
    below the counter's lowest one bit from it ("New Key-1/3"), erases it and advances the
    counter, skipping values with more than 10 one bits ("New Key").
    """

    def __init__(self, ipek: bytes, ksn: bytes) -> None:
        _check_key(ipek, "IPEK")
        self._iksn = initial_ksn(ksn)
        self._registers: list[bytes | None] = [None] * COUNTER_BITS
        self._counter = 0
        self._fill_registers(ipek, 0, COUNTER_BITS)
        self._counter = 1

    @classmethod
    def from_bdk(cls, bdk: bytes, ksn: bytes) -> TdesDukptOriginator:
        """Inject a device from the BDK (key-injection facility convenience)."""
        return cls(derive_ipek(bdk, ksn), ksn)

    def _fill_registers(self, key: bytes, counter: int, below: int) -> None:
        for bit in range(below - 1, -1, -1):
            reg = _register(self._iksn, counter | (1 << bit))
            self._registers[bit] = non_reversible_key(key, reg)

    @property
    def counter(self) -> int:
        return self._counter

    @property
    def ksn(self) -> bytes:
        """KSN the next transaction will use."""
        return with_counter(self._iksn, min(self._counter, COUNTER_MASK))

    @property
    def exhausted(self) -> bool:
        """True once the counter has run past its 21 bits: the device must be re-keyed."""
        return self._counter > COUNTER_MASK

    def next_transaction(self) -> Transaction:
        """Take the current key for this transaction and move to the next counter value."""
        if self.exhausted:
            raise DukptError("the DUKPT device has used all its keys and must be re-keyed")
        counter = self._counter
        lowest = (counter & -counter).bit_length() - 1
        key = self._registers[lowest]
        if key is None:  # pragma: no cover - impossible unless state is corrupted
            raise DukptError("the DUKPT future key register is empty")
        ksn = with_counter(self._iksn, counter)
        if counter.bit_count() < MAX_ONE_BITS:
            self._fill_registers(key, counter, lowest)
            self._counter = counter + 1
        else:
            self._counter = counter + (1 << lowest)
        self._registers[lowest] = None
        return Transaction(ksn, key)

    def encrypt_pin_block(self, clear_block: bytes) -> tuple[bytes, bytes]:
        """Encrypt a format 0 PIN block with this transaction's key; returns (block, KSN)."""
        if len(clear_block) != 8:
            raise DukptError("a TDES PIN block is 8 bytes")
        txn = self.next_transaction()
        return encrypt_pin_block(txn.key, clear_block), txn.ksn

    def encrypt_pin(self, pin: str, pan: str) -> tuple[bytes, bytes]:
        """Format 0 PIN block (ISO 9564-1) encrypted under this transaction's PIN key."""
        return self.encrypt_pin_block(pinblock.encode_format0(pin, pan))

    def export_state(self) -> dict[str, object]:
        """Non-volatile state of the device: KSN register and Future Key Registers (hex).

        Holds secret key material: store it only where the PIN pad's keys may live.
        """
        return {
            "ksn": with_counter(self._iksn, min(self._counter, COUNTER_MASK)).hex().upper(),
            "exhausted": self.exhausted,
            "registers": {
                str(bit): key.hex().upper()
                for bit, key in enumerate(self._registers)
                if key is not None
            },
        }

    @classmethod
    def from_state(cls, state: dict[str, object]) -> TdesDukptOriginator:
        """Rebuild a device from :meth:`export_state` output."""
        try:
            ksn = bytes.fromhex(str(state["ksn"]))
            raw = state["registers"]
            if not isinstance(raw, dict):
                raise TypeError
            registers = {int(bit): bytes.fromhex(str(key)) for bit, key in raw.items()}
        except (KeyError, TypeError, ValueError):
            raise DukptError("the saved DUKPT device state is malformed") from None
        counter = ksn_counter(ksn)
        if not is_valid_counter(counter) and not state.get("exhausted"):
            raise DukptError("the saved DUKPT device state has an unusable counter")
        if any(not 0 <= b < COUNTER_BITS or len(k) != KEY_LEN for b, k in registers.items()):
            raise DukptError("the saved DUKPT device state is malformed")
        self = cls.__new__(cls)
        self._iksn = initial_ksn(ksn)
        self._registers = [registers.get(bit) for bit in range(COUNTER_BITS)]
        self._counter = COUNTER_MASK + 1 if state.get("exhausted") else counter
        lowest = (counter & -counter).bit_length() - 1
        if not self.exhausted and self._registers[lowest] is None:
            raise DukptError("the saved DUKPT device state lacks the current key")
        return self

    def future_key_count(self) -> int:
        """How many Future Key Registers hold a key (for tests and diagnostics)."""
        return sum(1 for r in self._registers if r is not None)
