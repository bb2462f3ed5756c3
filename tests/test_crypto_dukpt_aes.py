"""AES DUKPT (ANSI X9.24-3:2017) against the B.1 sample and the supplement test vectors.

No installed oracle (psec, dukpt, pyemv) implements AES DUKPT, so the published vectors are the
reference; hypothesis then checks the device and host sides agree with each other.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import dukpt_aes as a
from crypto import pinblock

BDK128 = bytes.fromhex("FEDCBA9876543210F1F1F1F1F1F1F1F1")
BDK256 = BDK128 * 2
IKID = bytes.fromhex("1234567890123456")
IK128 = "1273671EA26AC29AFA4D1084127652A1"
IK256 = "CE9CE0C101D1138F97FB6CAD4DF045A7083D4EAE2D35A31789D01CCF0949550F"

# Supplement, AES-128 BDK: counter -> transaction derivation key
DERIVATION_KEYS = {
    0x00000001: "4F21B565BAD9835E112B6465635EAE44",
    0x00000002: "2F34D68DE10F68D38091A73B9E7C437C",
    0x00000003: "031504E530365CF81264238540518318",
    0x00000004: "0EEFC7ADA628BA68878DA9165A8A1887",
    0x00000005: "C2A7AC328A5DA2D6002D62465BFC028B",
    0x00000006: "D30F7D9351DA58448A2F5E92B4EE3B7D",
    0x00000007: "A8253CEED9AC042C54F75D35C8352278",
    0x00000008: "718EE6CF0B27E53D5F7AF99C4D8146A2",
    0x0001FFFE: "E21E8C8D347F8561A2BE752DAA85A111",
    0x00020000: "F7AE9025468A25D37B7249CFFED224C8",
    0x00020001: "692C8EA4013645135B36497131DF9D2C",
    0xFFFE2000: "48E585B694EB0B18D5C35443E163C0BA",
    0xFFFE4000: "396C2C7CA1EA701C03B86B7D41F0C562",
    0xFFFE8000: "0387625F189B58AE03EF0E8CCA41105E",
    0xFFFF0000: "F6BA59389BD14A9855BE9727E7C52E3C",
}

# Supplement, AES-128 BDK, counter 1 and 2: AES-128 working keys
WORKING_KEYS = [
    (1, a.KeyUsage.PIN_ENCRYPTION, "AF8CB133A78F8DC2D1359F18527593FB"),
    (1, a.KeyUsage.MAC_GENERATION, "A2DC23DE6FDE0824A2BC321E08E4B8B7"),
    (1, a.KeyUsage.DATA_ENCRYPTION_ENCRYPT, "A35C412EFD41FDB98B69797C02DCD08F"),
    (2, a.KeyUsage.PIN_ENCRYPTION, "D30BDC73EC9714B000BEC66BDB7B6D09"),
]


def _hex(b: bytes) -> str:
    return b.hex().upper()


def test_initial_key_b1_sample() -> None:
    # X9.24-3:2017 B.1: derivation data 01018001000200801234567890123456
    data = a.derivation_data(a.KeyUsage.KEY_DERIVATION_INITIAL_KEY, a.KeyType.AES128, IKID)
    assert _hex(data) == "01018001000200801234567890123456"
    assert _hex(a.derive_initial_key(BDK128, IKID)) == IK128
    assert _hex(a.derive_initial_key(BDK256, IKID)) == IK256


@pytest.mark.parametrize(("counter", "key"), sorted(DERIVATION_KEYS.items()))
def test_transaction_derivation_keys(counter: int, key: str) -> None:
    ksn = a.make_ksn(IKID, counter)
    assert _hex(a.derive_transaction_key(bytes.fromhex(IK128), ksn)) == key


@pytest.mark.parametrize(("counter", "usage", "key"), WORKING_KEYS)
def test_working_keys(counter: int, usage: a.KeyUsage, key: str) -> None:
    ksn = a.make_ksn(IKID, counter)
    assert _hex(a.host_working_key(BDK128, ksn, usage)) == key
    tk = bytes.fromhex(DERIVATION_KEYS[counter])
    assert _hex(a.derive_working_key(tk, ksn, usage)) == key


def test_originator_format4_pin_blocks_of_supplement() -> None:
    device = a.AesDukptOriginator.from_bdk(BDK128, IKID)
    fill = bytes.fromhex("2F69ADDE2E9E7ACE")
    pan = "4111111111111111"
    expected = ["A912150391AB65A67E52883D81CE2D15", "52A00503BD34BA1383F6A7EE9FE2547F"]
    for counter, block in enumerate(expected, start=1):
        encrypted, ksn = device.encrypt_pin("1234", pan, fill)
        assert ksn == a.make_ksn(IKID, counter)
        assert _hex(encrypted) == block
        host_key = a.host_pin_key(BDK128, ksn)
        assert pinblock.decipher_format4(encrypted, pan, host_key) == "1234"


def test_originator_first_eight_keys_and_state_round_trip() -> None:
    device = a.AesDukptOriginator(bytes.fromhex(IK128), IKID)
    for counter in range(1, 5):
        txn = device.next_transaction()
        assert _hex(txn.key) == DERIVATION_KEYS[counter]
    resumed = a.AesDukptOriginator.from_state(device.export_state())
    assert IK128 not in str(device.export_state())
    for counter in range(5, 9):
        txn = resumed.next_transaction()
        assert txn.ksn == a.make_ksn(IKID, counter)
        assert _hex(txn.key) == DERIVATION_KEYS[counter]


def _state_at(counter: int) -> dict[str, object]:
    """TEST-ONLY: the registers a device holds just before using ``counter``."""
    ik = bytes.fromhex(IK128)
    lowest = (counter & -counter).bit_length() - 1

    def key(c: int) -> str:
        return _hex(a.derive_transaction_key(ik, a.make_ksn(IKID, c)))

    regs = {str(lowest): key(counter)}
    for bit in range(lowest + 1, a.COUNTER_BITS):
        if not counter & (1 << bit):
            regs[str(bit)] = key((counter >> (bit + 1) << (bit + 1)) | (1 << bit))
    return {"ksn": _hex(a.make_ksn(IKID, counter)), "registers": regs}


def test_originator_skips_counters_with_seventeen_one_bits() -> None:
    # 0x1FFFF has 17 one bits: after 0x1FFFE (16 bits) the device jumps to 0x20000.
    device = a.AesDukptOriginator.from_state(_state_at(0x1FFFE))
    assert _hex(device.next_transaction().key) == DERIVATION_KEYS[0x1FFFE]
    txn = device.next_transaction()
    assert txn.ksn == a.make_ksn(IKID, 0x20000)
    assert _hex(txn.key) == DERIVATION_KEYS[0x20000]
    assert _hex(device.next_transaction().key) == DERIVATION_KEYS[0x20001]


def test_originator_last_keys_and_end_of_life() -> None:
    device = a.AesDukptOriginator.from_state(_state_at(0xFFFE2000))
    for counter in (0xFFFE2000, 0xFFFE4000, 0xFFFE8000, 0xFFFF0000):
        txn = device.next_transaction()
        assert txn.ksn == a.make_ksn(IKID, counter)
        assert _hex(txn.key) == DERIVATION_KEYS[counter]
    assert device.exhausted
    with pytest.raises(a.DukptAesError, match="re-keyed"):
        device.next_transaction()


def test_bad_pin_does_not_consume_a_key() -> None:
    device = a.AesDukptOriginator.from_bdk(BDK128, IKID)
    with pytest.raises(pinblock.PinBlockError):
        device.encrypt_pin("12", "4111111111111111")
    assert device.counter == 1


def test_aes256_bdk_gives_aes256_and_aes128_working_keys() -> None:
    ksn = a.make_ksn(IKID, 1)
    k256 = a.host_pin_key(BDK256, ksn, a.KeyType.AES256)
    k128 = a.host_pin_key(BDK256, ksn, a.KeyType.AES128)
    assert len(k256) == 32 and len(k128) == 16
    assert k256[:16] != k128  # the key length is bound into the derivation data
    with pytest.raises(a.DukptAesError, match="longer"):
        a.host_pin_key(BDK128, ksn, a.KeyType.AES256)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: a.derive_initial_key(bytes(15), IKID), "16, 24 or 32"),
        (lambda: a.derive_initial_key(BDK128, bytes(7)), "8 bytes"),
        (lambda: a.ksn_counter(bytes(10)), "12 bytes"),
        (lambda: a.make_ksn(IKID, 1 << 32), "32 bits"),
        (lambda: a.AesDukptOriginator.from_state({"registers": {}}), "malformed"),
        (
            lambda: a.AesDukptOriginator.from_state(
                {"ksn": _hex(a.make_ksn(IKID, 0x1FFFF)), "registers": {}}
            ),
            "counter",
        ),
    ],
)
def test_bad_input_is_a_value_error(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


@settings(max_examples=20, deadline=None)
@given(ikid=st.binary(min_size=8, max_size=8), steps=st.integers(min_value=1, max_value=40))
def test_originator_agrees_with_host(ikid: bytes, steps: int) -> None:
    device = a.AesDukptOriginator.from_bdk(BDK128, ikid)
    for _ in range(steps):
        txn = device.next_transaction()
        assert a.is_valid_counter(a.ksn_counter(txn.ksn))
        ik = a.derive_initial_key(BDK128, ikid)
        assert txn.key == a.derive_transaction_key(ik, txn.ksn)
