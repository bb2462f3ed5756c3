"""The key store under a KEK on a real PKCS#11 token (SoftHSM2, in a temporary token dir).

The token is made here with ``softhsm2-util`` under ``SOFTHSM2_CONF`` pointing at a tmp dir;
/var/lib/softhsm is never touched.  Every PIN and key here is TEST-ONLY.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pkcs11
import psec.tr31
import pytest
from pkcs11 import Attribute, ObjectClass

from crypto import kcv
from terminal.cli import main
from terminal.keys import load_data_key, open_store, storage
from terminal.keys.kek import Pkcs11Kek, parse_kek

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "246810"  # TEST-ONLY user PIN
SO_PIN = "13579111"  # TEST-ONLY security officer PIN
ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.xdist_group("softhsm")


@pytest.fixture(scope="module")
def token_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One SoftHSM2 token 'pos' for this module (SoftHSM reads its config once a process)."""
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "pos",
         "--pin", PIN, "--so-pin", SO_PIN],
        check=True, capture_output=True,
    )  # fmt: skip
    loaded = pkcs11.lib(MODULE)
    loaded.reinitialize()  # see the new token even if another test loaded SoftHSM first
    try:
        yield base
    finally:
        if old is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = old


@pytest.fixture
def uri(token_dir: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("POS_TEST_HSM_PIN", PIN)
    label = "kek-" + request.node.name[:40]
    return f"pkcs11:module={MODULE};token=pos;pin-env=POS_TEST_HSM_PIN;object={label}"


def token_key(label: str) -> dict[str, object]:
    token = pkcs11.lib(MODULE).get_token(token_label="pos")
    with token.open(user_pin=PIN) as session:
        key = session.get_key(label=label, object_class=ObjectClass.SECRET_KEY)
        return {
            "sensitive": key[Attribute.SENSITIVE],
            "extractable": key[Attribute.EXTRACTABLE],
            "token": key[Attribute.TOKEN],
            "bits": key.key_length,
        }


def test_first_load_makes_a_non_extractable_kek_on_the_token(
    uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "keys.json"
    gen = ["--id", "journal", "--usage", "data", "--generate", "--store", str(store)]
    assert main(["keys", "load", "--kek", uri, *gen]) == 0
    assert "warning" not in capsys.readouterr().err  # no file-KEK warning for a token
    label = uri.rsplit("object=", 1)[1]
    assert token_key(label) == {"sensitive": True, "extractable": False, "token": True, "bits": 256}
    doc = storage.read(store)
    assert doc is not None and doc["kek"]["kind"] == "pkcs11" and doc["kek"]["object"] == label
    assert len(bytes.fromhex(doc["kek"]["wrapped_kbpk"])) == 32 + 16  # AES-GCM: KBPK + tag
    # Reopened in this process and in a fresh one, the same key comes back.
    key = load_data_key(store, kek=uri)
    assert main(["keys", "rotate", "--kek", uri, "--id", "journal", "--store", str(store)]) == 0
    env = {**os.environ, "POS_KEK": uri}
    listing = subprocess.run(
        [sys.executable, "-m", "terminal", "keys", "list", "--json", "--store", str(store)],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False,
    )  # fmt: skip
    assert listing.returncode == 0, listing.stderr
    assert kcv.aes_kcv(key).hex().upper() in listing.stdout
    assert key.hex() not in listing.stdout.lower()
    assert load_data_key(store, kek=uri) != key  # version 2 is the active one now


def test_the_blocks_are_tr31_under_the_token_protected_kbpk(uri: str, tmp_path: Path) -> None:
    store_path = tmp_path / "keys.json"
    mac = bytes(range(32))  # TEST-ONLY
    with open_store(store_path, uri, create=True) as store:
        store.add_key("host-mac", "mac", "A", mac)
    doc = storage.read(store_path)
    assert doc is not None
    provider = parse_kek(uri)
    kbpk, envelope = provider.open_kbpk(doc["kek"], b"\x00" * 32)
    assert envelope == doc["kek"]
    header, key = psec.tr31.unwrap(kbpk, doc["keys"][0]["block"])
    assert key == mac and (header.version_id, header.key_usage, header.mode_of_use) == (
        "D",
        "M6",
        "C",
    )


def test_wrong_pin_missing_key_and_altered_envelope(
    uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "keys.json"
    gen = ["--id", "journal", "--usage", "data", "--generate", "--store", str(store)]
    assert main(["keys", "load", "--kek", uri, *gen]) == 0
    capsys.readouterr()
    listing = ["keys", "list", "--store", str(store)]
    monkeypatch.setenv("POS_TEST_HSM_PIN", "000000")
    assert main([*listing, "--kek", uri]) == 1
    assert capsys.readouterr().err == "pos: the PIN for token 'pos' is wrong\n"
    monkeypatch.setenv("POS_TEST_HSM_PIN", PIN)
    assert main([*listing, "--kek", uri + "-other"]) == 1
    assert "has no key" in capsys.readouterr().err
    monkeypatch.delenv("POS_TEST_HSM_PIN")
    assert main([*listing, "--kek", uri]) == 1
    assert capsys.readouterr().err == "pos: the token PIN variable POS_TEST_HSM_PIN is not set\n"
    monkeypatch.setenv("POS_TEST_HSM_PIN", PIN)
    doc = storage.read(store)
    assert doc is not None
    wrapped = bytearray(bytes.fromhex(doc["kek"]["wrapped_kbpk"]))
    wrapped[0] ^= 1
    doc["kek"]["wrapped_kbpk"] = wrapped.hex()
    storage.write(store, doc)
    assert main([*listing, "--kek", uri]) == 1
    assert "does not open this key store" in capsys.readouterr().err


def test_unknown_token_and_module(
    token_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gen = ["--id", "j", "--usage", "data", "--generate", "--store", str(tmp_path / "k.json")]
    os.environ["POS_TEST_HSM_PIN"] = PIN
    try:
        assert (
            main(
                [
                    "keys",
                    "load",
                    "--kek",
                    f"pkcs11:module={MODULE};token=absent;pin-env=POS_TEST_HSM_PIN",
                    *gen,
                ]
            )
            == 1
        )
        assert "there is no PKCS#11 token labelled 'absent'" in capsys.readouterr().err
        assert (
            main(
                [
                    "keys",
                    "load",
                    "--kek",
                    "pkcs11:module=/nonexistent.so;token=pos;pin-env=POS_TEST_HSM_PIN",
                    *gen,
                ]
            )
            == 1
        )
        assert "is not there" in capsys.readouterr().err
    finally:
        del os.environ["POS_TEST_HSM_PIN"]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("pkcs11:token=pos;pin-env=P", "needs module=PATH"),
        (f"pkcs11:module={MODULE};pin-env=P", "needs token=LABEL"),
        (f"pkcs11:module={MODULE};token=pos", "needs pin-env"),
        (f"pkcs11:module={MODULE};token=pos;pin-value=1234", "do not put the token PIN"),
        (f"pkcs11:module={MODULE};token=pos;pin-env=P;colour=red", "'colour' is not known"),
        (f"pkcs11:module={MODULE};token=pos;junk", "has no '='"),
    ],
)
def test_malformed_uris(text: str, fragment: str) -> None:
    with pytest.raises(Exception, match=fragment):
        parse_kek(text)


def test_rfc7512_spelling() -> None:
    kek = parse_kek(
        "pkcs11:token=pos;object=my%20kek?module-path=/usr/lib/softhsm/libsofthsm2.so"
        "&pin-source=file:/run/pos/pin"
    )
    assert isinstance(kek, Pkcs11Kek)
    assert (kek.module, kek.token, kek.object_label, kek.pin_file) == (
        MODULE,
        "pos",
        "my kek",
        "/run/pos/pin",
    )
