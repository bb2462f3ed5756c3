"""``pos keys load|list|rotate|retire``: the terminal key store from the command line.

Keys are shown by id, usage, algorithm, check value and version - never the key or its
block.  Exit 0 done, 1 refused or failed (wrong KEK, unknown key, bad block), 2 usage.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from crypto.keystore import ALL_USAGES, REFERENCE_USAGES, check_value
from terminal.errors import UsageError
from terminal.keys import KeyStoreFailure, open_store

MAX_COMPONENTS = 3


def register(sub: Any) -> None:
    keys = sub.add_parser("keys", help="the key store: load, list, rotate and retire keys")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--kek",
        default=None,
        help="pkcs11:module=PATH;token=LABEL;pin-env=VAR or file:PATH (default $POS_KEK)",
    )
    common.add_argument("--store", default=None, help="key store file (default in POS_DATA_DIR)")
    inner = keys.add_subparsers(dest="keys_command", metavar="ACTION")
    inner.required = True

    listing = inner.add_parser("list", parents=[common], help="id, usage, KCV, version")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_keys)

    load = inner.add_parser("load", parents=[common], help="add a new key (version 1)")
    load.add_argument("--id", required=True, dest="key_id")
    load.add_argument("--usage", required=True, choices=ALL_USAGES)
    source = load.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-block", metavar="TR31", help="a TR-31 / X9.143 key block")
    source.add_argument("--generate", action="store_true", help="a random key (data keys)")
    source.add_argument(
        "--from-components", type=int, metavar="N", help="N clear key components on stdin"
    )
    source.add_argument("--from-file", metavar="PATH", help="a raw key file (owner-only)")
    source.add_argument("--reference", metavar="WHERE", help="where a TLS client key lives")
    load.add_argument("--kbpk-id", help="the stored transport key the block is wrapped under")
    load.add_argument("--algorithm", choices=("T", "A"), default="A", help="for components")
    load.add_argument("--key-set-id", help="initial KSN / key ID of a DUKPT key, in hex")
    load.set_defaults(handler=load_key)

    rotate = inner.add_parser("rotate", parents=[common], help="add version N+1, keep N")
    rotate.add_argument("--id", required=True, dest="key_id")
    rotate.add_argument("--from-block", metavar="TR31")
    rotate.add_argument("--kbpk-id")
    rotate.add_argument("--reference", metavar="WHERE")
    rotate.set_defaults(handler=rotate_key)

    retire = inner.add_parser("retire", parents=[common], help="drop an old version")
    retire.add_argument("--id", required=True, dest="key_id")
    retire.add_argument("--version", required=True, type=int)
    retire.set_defaults(handler=retire_key)

    pinpad = inner.add_parser(
        "pinpad", parents=[common], help="load a stored DUKPT initial key into the PIN pad"
    )
    pinpad.add_argument("--id", required=True, dest="key_id", help="the dukpt-ik key")
    pinpad.add_argument("--kbpk-id", required=True, help="the stored kbpk key of the PIN pad")
    pinpad.add_argument("--port", required=True, help="the PIN pad's serial port")
    pinpad.add_argument("--baud", type=int, default=None)
    pinpad.set_defaults(handler=load_pinpad)


def _path(args: argparse.Namespace) -> Path | None:
    return Path(args.store) if args.store else None


def _show(record: Any) -> str:
    view = record.public_view()
    return f"{view['id']} version {view['version']} ({view['usage']}, {view['algorithm']}, KCV {view['kcv']})"


def list_keys(args: argparse.Namespace) -> int:
    with open_store(_path(args), args.kek, write=False) as store:
        records = store.records
        active = {r.key_id: store.active(r.key_id).version for r in records}
    rows = []
    for record in records:
        view = record.public_view()
        view["state"] = "active" if active[record.key_id] == record.version else "previous"
        rows.append(view)
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print("The key store holds no keys.")
        return 0
    print(f"{'ID':<16} {'USAGE':<10} {'ALGORITHM':<10} {'KCV':<24} {'VER':>3}  STATE")
    for r in rows:
        print(
            f"{r['id']:<16} {r['usage']:<10} {r['algorithm']:<10} {r['kcv']:<24} "
            f"{r['version']:>3}  {r['state']}"
        )
    return 0


def load_key(args: argparse.Namespace) -> int:
    if args.kbpk_id and not args.from_block:
        raise UsageError("--kbpk-id goes with --from-block")
    if (args.reference is not None) != (args.usage in REFERENCE_USAGES):
        raise UsageError(f"a {args.usage} key is loaded with --reference and only it")
    components = _read_components(args) if args.from_components is not None else None
    raw = _read_key_file(Path(args.from_file)) if args.from_file else None
    with open_store(_path(args), args.kek, create=True) as store:
        if args.from_block:
            record = store.import_block(
                args.key_id, args.usage, args.from_block.strip(),
                transport_kbpk=_transport(store, args.kbpk_id),
            )  # fmt: skip
        elif args.generate:
            record = store.generate(args.key_id, args.usage)
        elif components is not None:
            record = store.add_key(
                args.key_id, args.usage, args.algorithm, components, args.key_set_id
            )
        elif raw is not None:
            if args.usage != "data":
                raise UsageError("--from-file migrates a raw data key file; use --usage data")
            record = store.add_key(args.key_id, "data", "A", raw)
        else:
            record = store.add_reference(
                args.key_id, args.usage, args.reference, _fingerprint(args.reference)
            )
    print(f"Loaded {_show(record)}.")
    return 0


def rotate_key(args: argparse.Namespace) -> int:
    if args.kbpk_id and not args.from_block:
        raise UsageError("--kbpk-id goes with --from-block")
    with open_store(_path(args), args.kek) as store:
        current = store.active(args.key_id)
        if args.reference is not None:
            record = store.add_reference(
                args.key_id, current.usage, args.reference, _fingerprint(args.reference)
            )
        elif args.from_block:
            record = store.import_block(
                args.key_id, current.usage, args.from_block.strip(),
                transport_kbpk=_transport(store, args.kbpk_id), rotate=True,
            )  # fmt: skip
        else:
            record = store.rotate(args.key_id)
    print(
        f"Rotated to {_show(record)}; version {current.version} is kept until "
        f"'pos keys retire --id {args.key_id} --version {current.version}'."
    )
    return 0


def retire_key(args: argparse.Namespace) -> int:
    with open_store(_path(args), args.kek) as store:
        record = store.retire(args.key_id, args.version)
    print(f"Retired {_show(record)}; its key block is gone.")
    return 0


def load_pinpad(args: argparse.Namespace) -> int:
    """Export the IK under the PIN pad's KBPK and send it with LK (docs/pinpad-protocol.md)."""
    with open_store(_path(args), args.kek, write=False) as store:
        record = store.active(args.key_id)
        if record.usage != "dukpt-ik" or not record.key_set_id:
            raise KeyStoreFailure(f"key '{args.key_id}' is not a DUKPT initial key")
        pad_kbpk = store.active(args.kbpk_id)
        key = _transport(store, args.kbpk_id)
        assert key is not None  # noqa: S101 - kbpk_id is given
        block = store.export_block(args.key_id, key, kbpk_algorithm=pad_kbpk.algorithm)
    from terminal.peripherals.pinpad import SerialPinPad

    options = {"baudrate": args.baud} if args.baud else {}
    pad = SerialPinPad.open(args.port, **options)
    try:
        answered = pad.load_key(block, bytes.fromhex(record.key_set_id))
    finally:
        pad.close()
    if answered.upper() != record.kcv:
        raise KeyStoreFailure(
            f"the PIN pad reports KCV {answered or 'none'} for the key, not {record.kcv}; "
            "do not use it until it is loaded again"
        )
    print(
        f"Loaded {_show(record)} into the PIN pad on {args.port}; initial KSN {record.key_set_id}."
    )
    return 0


def _transport(store: Any, kbpk_id: str | None) -> bytes | None:
    if kbpk_id is None:
        return None
    record = store.active(kbpk_id)
    if record.usage != "kbpk":
        raise KeyStoreFailure(f"key '{kbpk_id}' is a {record.usage} key, not a kbpk")
    key: bytes = store.key(kbpk_id)
    return key


def _read_components(args: argparse.Namespace) -> bytes:
    """X9.24-1 key components: XOR of 2 or 3 clear parts, each shown by its KCV only."""
    count = args.from_components
    if not 2 <= count <= MAX_COMPONENTS:
        raise UsageError("--from-components takes 2 or 3 components")
    interactive = sys.stdin.isatty()
    result: bytes | None = None
    seen: list[bytes] = []
    for n in range(1, count + 1):
        prompt = f"Component {n} of {count} (hex): "
        text = getpass.getpass(prompt) if interactive else sys.stdin.readline()
        try:
            part = bytes.fromhex(text.strip())
        except ValueError:
            raise UsageError(f"component {n} is not hexadecimal") from None
        if not part or (result is not None and len(part) != len(result)):
            raise UsageError(f"component {n} is empty or not as long as the first")
        try:
            part_kcv = check_value(args.algorithm, part)
        except ValueError:
            raise UsageError(f"component {n} is not a valid {args.algorithm} key length") from None
        # DES ignores the parity bits: parts that differ only there are the same key
        significant = bytes(b & 0xFE for b in part) if args.algorithm == "T" else part
        if significant in seen:
            raise UsageError(
                f"component {n} repeats component {seen.index(significant) + 1}; each "
                "custodian's component must be generated independently"
            )
        seen.append(significant)
        print(f"Component {n} KCV {part_kcv}", file=sys.stderr)
        result = part if result is None else bytes(a ^ b for a, b in zip(result, part, strict=True))
    assert result is not None  # noqa: S101 - count >= 2
    _refuse_degenerate_key(args.algorithm, result)
    return result


def _refuse_degenerate_key(algorithm: str, key: bytes) -> None:
    """The combined key must not be all zeros, nor a TDES key whose 8-byte parts repeat
    (K1 = K2 or K2 = K3 is single DES, ANSI X9.52 keying options): such components were not
    random, and the key would protect nothing."""
    if not any(key):
        raise UsageError("the components combine to an all-zero key; generate new components")
    if algorithm == "T":
        parts = [bytes(b & 0xFE for b in key[i : i + 8]) for i in range(0, len(key), 8)]
        if any(a == b for a, b in zip(parts, parts[1:], strict=False)):
            raise UsageError(
                "the components combine to a TDES key with repeated halves (single-DES "
                "strength); generate new components"
            )


def _read_key_file(path: Path) -> bytes:
    try:
        if path.stat().st_mode & 0o077:
            raise UsageError(f"the key file {path} is open to others; run 'chmod 600 {path}'")
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"the key file {path} cannot be read ({exc.strerror})") from None


def _fingerprint(reference: str) -> str:
    """SHA-256 of the public key a PEM certificate or key file holds; '-' otherwise."""
    path = Path(reference)
    if not path.is_file():
        return "-"
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"the TLS key file {path} cannot be read ({exc.strerror})") from None
    public: Any
    try:
        public = x509.load_pem_x509_certificate(data).public_key()
    except ValueError:
        try:
            public = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError):
            raise UsageError(
                f"{path} is not a PEM certificate or unencrypted private key"
            ) from None
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "SHA256:" + hashlib.sha256(spki).hexdigest()[:16].upper()
