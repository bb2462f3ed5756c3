"""A DUKPT initial key goes from the key store to the PIN pad over a real pty.

The IK is loaded into the store from a KIF's TR-31 block, exported under the PIN pad's
KBPK, loaded with the pad's LK command, and the next online PIN opens at the host with the
BDK.  Every key here is TEST-ONLY.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from crypto import des, dukpt_tdes, pinblock, tr31
from emv.ports import PinRequest
from hardware_sim.pinpad import SimulatedPinPad, peripheral_test_keys
from terminal.cli import main
from terminal.keys import open_store
from terminal.keys.kek import FileKek
from terminal.peripherals.pinpad import SerialPinPad

PAN = "4761739001010119"
BDK = bytes.fromhex("FEDCBA9876543210F1F1F1F1F1F1F1F1")  # TEST-ONLY
KIF_KBPK = bytes.fromhex("1A2B3C4D5E6F70819203A4B5C6D7E8F9" * 2)  # TEST-ONLY


def test_stored_ik_loads_into_the_pinpad_and_the_host_opens_the_pin(tmp_path: Path) -> None:
    kek_file = tmp_path / "kek"
    fd = os.open(kek_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, os.urandom(32).hex().encode())
    os.close(fd)
    kek = FileKek(kek_file, warn=False)
    store_path = tmp_path / "keys.json"
    ksn = bytes.fromhex("FFFF0000000002E00000")
    ipek = dukpt_tdes.derive_ipek(BDK, ksn)
    kif_block = tr31.wrap(
        KIF_KBPK,
        ipek,
        tr31.Tr31Header("D", "B1", "T", "X", "00", "E", (("KS", ksn.hex().upper()),)),
    )
    with open_store(store_path, kek, create=True) as store:
        store.add_key("kif", "kbpk", "A", KIF_KBPK)
        store.import_block("pinpad-ik", "dukpt-ik", kif_block, transport_kbpk=store.key("kif"))
    pad_kbpk = bytes.fromhex(peripheral_test_keys()["pinpad_kbpk_tdes"])
    with open_store(store_path, kek, write=False) as store:
        record = store.active("pinpad-ik")
        block = store.export_block("pinpad-ik", pad_kbpk, kbpk_algorithm="T")
    assert record.key_set_id == ksn.hex().upper()
    with SimulatedPinPad(pin="1234", time_scale=0) as sim:
        pad = SerialPinPad.open(sim.port, entry_margin_s=0.3)
        try:
            assert pad.load_key(block, bytes.fromhex(record.key_set_id)) == record.kcv
            entry = pad.request_pin(PinRequest(True, 1234, "GBP", None, PAN))
        finally:
            pad.close()
    assert entry.online is not None
    assert entry.online.ksn.hex().upper() == "FFFF0000000002E00001"
    key = dukpt_tdes.host_pin_key(BDK, entry.online.ksn)
    clear = des.decrypt_ecb(key, entry.online.encrypted_block)
    assert pinblock.decode_format0(clear, PAN) == "1234"


def test_pos_keys_pinpad_loads_the_ik_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kek_file = tmp_path / "kek"
    fd = os.open(kek_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    kek = ["--kek", f"file:{kek_file}"]
    pad_kbpk = bytes.fromhex(peripheral_test_keys()["pinpad_kbpk_tdes"])
    c1 = bytes(range(16))  # TEST-ONLY component pair XORing to the pad's KBPK
    c2 = bytes(a ^ b for a, b in zip(pad_kbpk, c1, strict=True))
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{c1.hex()}\n{c2.hex()}\n"))
    assert main(["keys", "load", *kek, "--id", "pad-kbpk", "--usage", "kbpk",
                 "--algorithm", "T", "--from-components", "2"]) == 0  # fmt: skip
    ksn = "FFFF0000000003E00000"
    ipek = dukpt_tdes.derive_ipek(BDK, bytes.fromhex(ksn))
    assert main(["keys", "load", *kek, "--id", "ik", "--usage", "dukpt-ik", "--algorithm", "T",
                 "--key-set-id", ksn, "--from-components", "2"]) == 2  # fmt: skip
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{ipek.hex()}\n{bytes(16).hex()}\n"))
    assert main(["keys", "load", *kek, "--id", "ik", "--usage", "dukpt-ik", "--algorithm", "T",
                 "--key-set-id", ksn, "--from-components", "2"]) == 0  # fmt: skip
    capsys.readouterr()
    with SimulatedPinPad(pin="4321", time_scale=0) as sim:
        code = main(["keys", "pinpad", *kek, "--id", "ik", "--kbpk-id", "pad-kbpk",
                     "--port", sim.port])  # fmt: skip
        out, err = capsys.readouterr()
        assert code == 0, err
        assert f"initial KSN {ksn}" in out
        assert main(["keys", "pinpad", *kek, "--id", "pad-kbpk", "--kbpk-id", "ik",
                     "--port", sim.port]) == 1  # fmt: skip
        assert "is not a DUKPT initial key" in capsys.readouterr().err
        pad = SerialPinPad.open(sim.port, entry_margin_s=0.3)
        try:
            entry = pad.request_pin(PinRequest(True, 500, "GBP", None, PAN))
        finally:
            pad.close()
    assert entry.online is not None
    key = dukpt_tdes.host_pin_key(BDK, entry.online.ksn)
    assert pinblock.decode_format0(des.decrypt_ecb(key, entry.online.encrypted_block), PAN) == (
        "4321"
    )
    assert main(["keys", "pinpad", *kek, "--id", "ik", "--kbpk-id", "pad-kbpk",
                 "--port", str(tmp_path / "no-such-tty")]) == 1  # fmt: skip
    assert "cannot open serial port" in capsys.readouterr().err
