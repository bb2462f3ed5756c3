"""Host simulator configuration: where it listens, its TLS material and the issuer rules.

The issuer rules are data (``rules.json`` next to this module, TEST-ONLY) so that test
scenarios and ``pos sim host`` change behaviour without touching code.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class HostTls:
    """Server certificate and key, and the CA that must have signed terminal certificates."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path

    def context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        ctx.load_verify_locations(cafile=str(self.client_ca_file))
        ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx


def default_rules() -> dict[str, Any]:
    text = resources.files("hardware_sim.host").joinpath("rules.json").read_text()
    rules: dict[str, Any] = json.loads(text)
    return rules


@dataclass
class HostConfig:
    """``port=0`` picks a free port; ``tls=None`` serves plain TCP (local tests only)."""

    host: str = "127.0.0.1"
    port: int = 0
    tls: HostTls | None = None
    rules: dict[str, Any] = field(default_factory=default_rules)
    ledger_path: str = ":memory:"
    fault_delay_seconds: float = 2.0
    worker: int = 0  # worker number when several processes share one ledger file

    def with_rules(self, **changes: Any) -> HostConfig:
        rules = dict(self.rules)
        rules.update(changes)
        return replace(self, rules=rules)
