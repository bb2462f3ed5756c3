"""``pos keys`` with a file KEK: load, list, rotate, retire, errors as one sentence.

Every key and KEK here is TEST-ONLY.
"""

from __future__ import annotations

import datetime
import io
import json
import os
from pathlib import Path

import psec.tr31
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crypto import kcv
from terminal.cli import main
from terminal.keys import load_data_key, load_data_keys
from terminal.keys.kek import FILE_KEK_WARNING

KBPK_HEX = "A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF"  # TEST-ONLY


@pytest.fixture
def kek(tmp_path: Path) -> str:
    path = tmp_path / "kek"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, KBPK_HEX.encode() + b"\n")
    os.close(fd)
    return f"file:{path}"


def pos(*args: str) -> int:
    return main(["keys", *args])


def last_error(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [ln for ln in capsys.readouterr().err.splitlines() if FILE_KEK_WARNING not in ln]
    assert len(lines) == 1, lines
    return lines[0]


def listing(kek: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert pos("list", "--kek", kek, "--json") == 0
    rows: list[dict[str, object]] = json.loads(capsys.readouterr().out)
    return rows


def test_generate_list_rotate_retire(kek: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert pos("load", "--kek", kek, "--id", "journal", "--usage", "data", "--generate") == 0
    out, err = capsys.readouterr()
    assert out.startswith("Loaded journal version 1 (data, AES-256, KCV ")
    assert FILE_KEK_WARNING in err
    assert pos("rotate", "--kek", kek, "--id", "journal") == 0
    assert "version 1 is kept until 'pos keys retire" in capsys.readouterr().out
    rows = listing(kek, capsys)
    assert [(r["id"], r["version"], r["state"]) for r in rows] == [
        ("journal", 1, "previous"),
        ("journal", 2, "active"),
    ]
    keys = load_data_keys(os.environ["POS_DATA_DIR"] + "/keys/keystore.json", kek=kek)
    assert [kcv.aes_kcv(k).hex().upper() for k in keys] == [rows[1]["kcv"], rows[0]["kcv"]]
    assert (
        load_data_key(Path(os.environ["POS_DATA_DIR"]) / "keys/keystore.json", kek=kek) == keys[0]
    )
    assert pos("retire", "--kek", kek, "--id", "journal", "--version", "2") == 1
    assert last_error(capsys) == (
        "pos: version 2 is the active version of 'journal'; rotate it first"
    )
    assert pos("retire", "--kek", kek, "--id", "journal", "--version", "1") == 0
    assert [r["version"] for r in listing(kek, capsys)] == [2]


def test_list_shows_kcv_never_the_key_or_block(
    kek: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pos("load", "--kek", kek, "--id", "journal", "--usage", "data", "--generate") == 0
    capsys.readouterr()
    assert pos("list", "--kek", kek) == 0
    out = capsys.readouterr().out
    key = load_data_key(os.environ["POS_DATA_DIR"] + "/keys/keystore.json", kek=kek)
    store = json.loads((Path(os.environ["POS_DATA_DIR"]) / "keys/keystore.json").read_text())
    block = store["keys"][0]["block"]
    assert kcv.aes_kcv(key).hex().upper() in out
    assert key.hex() not in out.lower() and block not in out
    assert key.hex() not in json.dumps(store).lower()  # at rest only as a block
    mode = (Path(os.environ["POS_DATA_DIR"]) / "keys/keystore.json").stat().st_mode & 0o777
    assert mode == 0o600


def test_block_from_a_kif_under_a_transport_key_loaded_from_components(
    kek: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    c1 = bytes.fromhex("0123456789ABCDEF0123456789ABCDEF")  # TEST-ONLY components
    c2 = bytes.fromhex("FEDCBA9876543210FEDCBA9876543210")
    transport = bytes(a ^ b for a, b in zip(c1, c2, strict=True))
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{c1.hex()}\n{c2.hex()}\n"))
    assert (
        pos("load", "--kek", kek, "--id", "kif", "--usage", "kbpk", "--from-components", "2") == 0
    )
    out, err = capsys.readouterr()
    assert f"Component 1 KCV {kcv.aes_kcv(c1).hex().upper()}" in err
    assert f"KCV {kcv.aes_kcv(transport).hex().upper()}" in out
    mac_key = bytes(range(16))
    block = psec.tr31.wrap(transport, "D0000M6AC00N0000", mac_key)
    assert (
        pos("load", "--kek", kek, "--id", "host-mac", "--usage", "mac",
            "--from-block", block, "--kbpk-id", "kif") == 0
    )  # fmt: skip
    assert f"KCV {kcv.aes_kcv(mac_key).hex().upper()}" in capsys.readouterr().out
    assert (
        pos("load", "--kek", kek, "--id", "pin", "--usage", "pin",
            "--from-block", block, "--kbpk-id", "kif") == 1
    )  # fmt: skip
    assert "not a pin key" in last_error(capsys)
    new_block = psec.tr31.wrap(transport, "D0000M6AC00N0000", bytes(range(1, 17)))
    assert (
        pos("rotate", "--kek", kek, "--id", "host-mac", "--from-block", new_block,
            "--kbpk-id", "kif") == 0
    )  # fmt: skip
    rows = listing(kek, capsys)
    assert [(r["id"], r["version"]) for r in rows] == [
        ("host-mac", 1),
        ("host-mac", 2),
        ("kif", 1),
    ]


def test_a_block_under_the_store_kbpk_loads_without_a_transport_key(
    kek: str, capsys: pytest.CaptureFixture[str]
) -> None:
    header = psec.tr31.Header("D", "B1", "T", "X", "00", "E")
    header.blocks["KS"] = "FFFF9876543210E00000"
    block = psec.tr31.wrap(bytes.fromhex(KBPK_HEX), header, bytes.fromhex("11" * 16))
    assert (
        pos("load", "--kek", kek, "--id", "ik", "--usage", "dukpt-ik", "--from-block", block) == 0
    )
    assert listing(kek, capsys)[0]["key_set_id"] == "FFFF9876543210E00000"


def test_migrating_the_old_data_key_file(
    kek: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "data.key"
    fd = os.open(old, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, bytes(range(32)))
    os.close(fd)
    assert (
        pos("load", "--kek", kek, "--id", "journal", "--usage", "data", "--from-file", str(old))
        == 0
    )
    assert load_data_key(os.environ["POS_DATA_DIR"] + "/keys/keystore.json", kek=kek) == bytes(
        range(32)
    )


def test_tls_client_key_is_a_reference_with_its_public_key_fingerprint(
    kek: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())  # TEST-ONLY
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "POS00001")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = tmp_path / "client.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    assert pos("load", "--kek", kek, "--id", "tls", "--usage", "tls-client",
               "--reference", str(pem)) == 0  # fmt: skip
    row = listing(kek, capsys)[0]
    assert row["algorithm"] == "reference" and row["reference"] == str(pem)
    assert str(row["kcv"]).startswith("SHA256:") and len(str(row["kcv"])) == 23


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["load", "--id", "x", "--usage", "data"], 2, "one of the arguments"),
        (["load", "--id", "x", "--usage", "nope", "--generate"], 2, "invalid choice"),
        (["load", "--id", "x", "--usage", "mac", "--generate"], 1, "load it with --from-block"),
        (["load", "--id", "x", "--usage", "pin", "--from-block", "D0000"], 1, "cannot be opened"),
        (["load", "--id", "bad id", "--usage", "data", "--generate"], 1, "must be 1-32"),
        (["load", "--id", "x", "--usage", "data", "--generate", "--kbpk-id", "k"], 2, "--kbpk-id"),
        (["load", "--id", "x", "--usage", "data", "--reference", "/x"], 2, "--reference"),
        (["load", "--id", "x", "--usage", "kbpk", "--from-components", "5"], 2, "2 or 3"),
        (["rotate", "--id", "ghost"], 1, "no key store at"),
        (["list", "--kek", "file:"], 2, "needs a path"),
        (["list", "--kek", "vault:x"], 2, "must be 'pkcs11:"),
    ],
)
def test_every_error_is_one_sentence(
    kek: str, args: list[str], code: int, fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if "--kek" not in args:
        args = [*args, "--kek", kek]
    assert pos(*args) == code
    line = last_error(capsys)
    assert line.startswith("pos: ") and fragment in line
    assert "Traceback" not in line


C1 = "0123456789ABCDEF0123456789ABCDEF"  # TEST-ONLY components
SAME_BUT_PARITY = "0123456789ABCDEF0123456789ABCDEE"  # C1 with one parity bit flipped
HALVES_A_B = "0123456789ABCDEFFEDCBA9876543210"
FLIP_B = "0000000000000000FFFFFFFFFFFFFFFF"  # HALVES_A_B XOR FLIP_B: 0123456789ABCDEF twice
NEAR_C1 = "1123456789ABCDEF0123456789ABCDEF"
C1_XOR_NEAR_C1 = "10" + "00" * 15  # the third part that cancels the other two


@pytest.mark.parametrize(
    ("components", "algorithm", "fragment"),
    [
        ([C1, C1], "A", "component 2 repeats component 1"),
        ([HALVES_A_B, FLIP_B, FLIP_B], "A", "component 3 repeats component 2"),
        ([C1, SAME_BUT_PARITY], "T", "component 2 repeats component 1"),
        ([HALVES_A_B, FLIP_B], "T", "repeated halves"),
        ([C1, NEAR_C1, C1_XOR_NEAR_C1], "A", "all-zero key"),
    ],
)
def test_components_that_are_not_independent_are_refused(
    kek: str, components: list[str], algorithm: str, fragment: str,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """X9.24-1 components are generated independently: a repeated one, or a set that XORs to
    a zero or single-DES key, is not loaded (and nothing is stored)."""
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(c + "\n" for c in components)))
    argv = ["load", "--kek", kek, "--id", "k", "--usage", "kbpk", "--algorithm", algorithm,
            "--from-components", str(len(components))]  # fmt: skip
    assert pos(*argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the components' KCV lines
    assert last.startswith("pos: ") and fragment in last
    assert not (Path(os.environ["POS_DATA_DIR"]) / "keys/keystore.json").exists()


def test_kek_file_problems(tmp_path: Path, kek: str, capsys: pytest.CaptureFixture[str]) -> None:
    gen = ["--id", "j", "--usage", "data", "--generate"]
    assert pos("load", "--kek", f"file:{tmp_path}/missing", *gen) == 1
    assert "does not exist" in last_error(capsys)
    loose = tmp_path / "loose"
    loose.write_text(KBPK_HEX)
    loose.chmod(0o644)
    assert pos("load", "--kek", f"file:{loose}", *gen) == 1
    assert (
        last_error(capsys)
        == f"pos: the KEK file {loose} is open to others (mode 644); run 'chmod 600 {loose}'"
    )
    short = tmp_path / "short"
    fd = os.open(short, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"abcd")
    os.close(fd)
    assert pos("load", "--kek", f"file:{short}", *gen) == 1
    assert "must hold 32 bytes or 64 hex digits" in last_error(capsys)


def test_a_different_kek_cannot_open_the_store(
    kek: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pos("load", "--kek", kek, "--id", "journal", "--usage", "data", "--generate") == 0
    other = tmp_path / "other"
    fd = os.open(other, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    capsys.readouterr()
    assert pos("list", "--kek", f"file:{other}") == 1
    assert "is not the one this key store was made with" in last_error(capsys)


def test_damaged_store_and_kek_from_the_environment(
    kek: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POS_KEK", kek)
    assert pos("load", "--id", "journal", "--usage", "data", "--generate") == 0
    path = Path(os.environ["POS_DATA_DIR"]) / "keys/keystore.json"
    doc = json.loads(path.read_text())
    block = doc["keys"][0]["block"]
    doc["keys"][0]["block"] = block[:-2] + ("00" if block[-2:] != "00" else "11")
    path.write_text(json.dumps(doc))
    with pytest.raises(Exception, match="MAC is wrong"):
        load_data_key(path)
    path.write_text("{not json")
    capsys.readouterr()
    assert pos("list") == 1
    assert "is damaged (not JSON)" in last_error(capsys)
    monkeypatch.delenv("POS_KEK")
    assert pos("list") == 2
    assert "no key-encryption key given" in last_error(capsys)


def test_payment_seals_its_queues_with_the_key_store_data_key(
    tmp_path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    """With $POS_KEK set, the SAF store's data key comes from the key store, no raw key file."""
    from terminal.cli import main

    kek = tmp_path / "kek.bin"
    kek.write_bytes(bytes(range(32)))
    kek.chmod(0o600)
    data = tmp_path / "data"
    monkeypatch.setenv("POS_DATA_DIR", str(data))
    monkeypatch.setenv("POS_KEK", f"file:{kek}")
    assert main(["keys", "load", "--id", "journal", "--usage", "data", "--generate"]) == 0
    assert main(["pay", "5.00", "--json", "--plain-tcp"]) == 0
    assert not (data / "keys" / "data.key").exists()
    capsys.readouterr()
