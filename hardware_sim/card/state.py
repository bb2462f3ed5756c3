"""The card's state: per application counters that survive power-off, and the volatile
state of the current selection and transaction."""

from __future__ import annotations

from dataclasses import dataclass, field

from hardware_sim.card.cvr import Cvr
from hardware_sim.card.profile import ApplicationProfile
from hardware_sim.card.records import PersonalisedApplication


@dataclass
class ApplicationState:
    """One application's personalisation plus the counters that survive power-off."""

    profile: ApplicationProfile
    personal: PersonalisedApplication
    icc_mk_ac: bytes
    atc: int
    last_online_atc: int
    blocked: bool
    lower_limit: int | None
    upper_limit: int | None
    # "last transaction" facts reported in the next CVR
    issuer_auth_failed_last_online: bool = False
    last_online_not_completed: bool = False
    log: list[bytes] = field(default_factory=list)

    @property
    def consecutive_offline(self) -> int:
        """Transactions since the last approved online one, this one included."""
        return self.atc - self.last_online_atc


@dataclass
class Transaction:
    """Volatile state: reset by power-on and by every SELECT."""

    app: int | None = None
    pse_selected: bool = False
    select_name: bytes = b""
    gpo_done: bool = False
    pdol_data: bytes = b""
    cdol1_data: bytes = b""
    cdol1_values: dict[int, bytes] = field(default_factory=dict)
    first_ac: int | None = None
    second_ac: int | None = None
    ac: bytes = b""
    issuer_auth: bool | None = None
    external_authenticate_done: bool = False
    cvr: Cvr = field(default_factory=Cvr)


@dataclass(frozen=True)
class ScriptResult:
    """One issuer script command the card executed (``sw`` is what it answered)."""

    command: str
    sw: int
