"""Terminal and per-AID configuration as the kernel sees it (EMV Book 3 / Book 4 data).

Plain dataclasses; reading TOML and reporting mistakes to the user is the job of
``terminal.config``.  Every value here maps to an EMV terminal data element.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AidConfig:
    """One entry of the terminal's list of supported applications (Book 1 12.3.1)."""

    aid: bytes
    label: str = ""
    partial_selection: bool = True  # Application Selection Indicator (Book 1 12.3.1)
    application_version: bytes = b"\x00\x8c"  # 9F09
    floor_limit: int = 0  # 9F1B, minor units
    random_selection_threshold: int = 0  # Book 3 10.6.2
    random_selection_target_percent: int = 0
    random_selection_max_target_percent: int = 0
    tac_denial: bytes = bytes.fromhex("0010000000")
    tac_online: bytes = bytes.fromhex("DC4004F800")
    tac_default: bytes = bytes.fromhex("DC4000A800")
    default_ddol: bytes = bytes.fromhex("9F3704")
    default_tdol: bytes = bytes.fromhex("9F02065F2A029A039C0195059F3704")
    tag_overrides: dict[int, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class TerminalConfig:
    """Terminal-wide data elements (Book 4 Annex A) and capabilities."""

    terminal_id: str = "POS00001"  # 9F1C
    merchant_id: str = "SIMMERCHANT0001"  # 9F16 (15 chars)
    merchant_name_location: str = "Sim Shop, Berlin"  # 9F4E
    merchant_category_code: int = 5411  # 9F15
    acquirer_id: str = "000001"  # 9F01
    ifd_serial: str = "SIM00001"  # 9F1E
    country_code: int = 276  # 9F1A (ISO 3166 numeric)
    currency_code: int = 978  # 5F2A default (ISO 4217 numeric)
    currency_exponent: int = 2  # 5F36
    terminal_type: int = 0x22  # 9F35: attended, online with offline capability, merchant
    terminal_capabilities: bytes = bytes.fromhex("E0F8C8")  # 9F33
    additional_capabilities: bytes = bytes.fromhex("F000F0A001")  # 9F40
    pin_pad_present: bool = True
    cardholder_confirmation: bool = True  # Book 1 12.4
    risk_management_always: bool = False  # perform TRM even if AIP b4 is not set
    exception_file: tuple[str, ...] = ()  # PANs on the terminal exception file
    aids: tuple[AidConfig, ...] = ()
    tag_overrides: dict[int, bytes] = field(default_factory=dict)

    @property
    def online_capable(self) -> bool:
        """Terminal type b2-b1: 1 and 2 have online capability, 3 is offline only (Book 4 A1)."""
        return (self.terminal_type & 0x0F) in (1, 2, 4, 5)

    @property
    def offline_capable(self) -> bool:
        return (self.terminal_type & 0x0F) in (2, 3, 5, 6)

    def supports(self, byte: int, mask: int) -> bool:
        return bool(self.terminal_capabilities[byte] & mask)

    def aid_config(self, aid: bytes) -> AidConfig | None:
        """The AID entry matching the selected application (exact, or partial by prefix)."""
        best: AidConfig | None = None
        for entry in self.aids:
            if aid == entry.aid:
                return entry
            if entry.partial_selection and aid.startswith(entry.aid):
                best = entry
        return best


def default_aids() -> tuple[AidConfig, ...]:
    return (
        AidConfig(bytes.fromhex("A0000000031010"), "VISA CREDIT", application_version=b"\x00\x96"),
        AidConfig(
            bytes.fromhex("A0000000032010"), "VISA ELECTRON", application_version=b"\x00\x96"
        ),
        AidConfig(bytes.fromhex("A0000000041010"), "MASTERCARD", application_version=b"\x00\x02"),
        AidConfig(bytes.fromhex("A0000000043060"), "MAESTRO", application_version=b"\x00\x02"),
        AidConfig(bytes.fromhex("A0000000999090"), "SIM LOCAL"),
    )


def default_terminal_config() -> TerminalConfig:
    return TerminalConfig(aids=default_aids())
