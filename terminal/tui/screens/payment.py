"""The payment in progress: the kernel runs in a worker thread; this screen shows the
cardholder display (Book 4 messages in the card's language) and each kernel phase, and
opens the modals the kernel asks for (application choice, confirmation, PIN)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from emv.kernel.context import TransactionType
from emv.ports import ApplicationChoice, Message, PinRequest
from terminal.tui.cardholder import PinAnswer, UiCardholder
from terminal.tui.screens.title_bar import TitleBar
from terminal.tui.wiring import CardSource

if TYPE_CHECKING:
    from terminal.operators import Approval
    from terminal.tui.app import PosApp
    from terminal.tui.plain_words import ResultView

INTERNAL_ERROR = (
    "The terminal hit an internal error ({name}); nothing was charged twice. "
    "Check the journal (key J) and call support."
)


class PaymentScreen(Screen[None]):
    NAME = "payment"  # what the cashier is looking at (tests, logs)

    def __init__(
        self,
        amount_minor: int,
        source: CardSource,
        *,
        transaction_type: TransactionType = TransactionType.PURCHASE,
        kind: str = "",
        approval: Approval | None = None,
        heading: str = "PAYMENT",
        other_amount_minor: int = 0,
    ) -> None:
        """``transaction_type``/``kind``/``approval``: a refund (with the supervisor's
        approval) or a pre-authorisation (``kind="preauth"``) runs the same screen."""
        super().__init__()
        self.amount_minor = amount_minor
        self.source = source
        self.transaction_type = transaction_type
        self.kind = kind
        self.approval = approval
        self.heading = heading
        self.other_amount_minor = other_amount_minor  # cashback: Amount, Other (9F03)
        self.phases: list[str] = []
        self.cardholder: UiCardholder | None = None
        self.transport: object = None

    @property
    def pos_app(self) -> PosApp:
        return cast("PosApp", self.app)

    def compose(self) -> ComposeResult:
        yield TitleBar()
        amount = self.pos_app.currency.format(self.amount_minor)
        with Vertical(id="payment-box"):
            yield Static(f"{self.heading} {amount}", id="payment-title")
            how = "tapped" if self.source.contactless else "inserted"
            yield Static(f"Card: {self.source.label} ({how})", id="payment-card", markup=False)
            display = Static("", id="cardholder-display", markup=False)
            display.border_title = "Cardholder display"
            yield display
            yield Static("", id="device-status", markup=False)
            yield Static("", id="progress", markup=False)
            yield Static(
                "Please wait. Do not remove the card until the screen says so.", id="payment-help"
            )
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self._pay, thread=True, exclusive=True, name="payment", group="payment")

    # -- worker thread --------------------------------------------------------------------
    def _pay(self) -> None:
        with self.pos_app.session.payment_busy:
            self._pay_once()

    def _pay_once(self) -> None:
        from emv.errors import CardTransportError
        from terminal.errors import UserFacingError
        from terminal.service import PaymentRequest
        from terminal.tui.plain_words import describe

        app = self.pos_app
        call = app.invoke_later
        try:
            call(self.kernel_phase, "connecting to the host")
            service = app.session.service()
            if not app.session.demo:
                call(self.kernel_phase, "waiting for the card")
            with app.session.open_card(self.source) as transport:
                self.transport = transport
                self.cardholder = UiCardholder(
                    self,
                    call,
                    online_pin_encryptor=app.session.online_pin_encryptor(),
                    abort=app.abort_event,
                    keyboard_pin=app.session.demo,
                    device=app.session.device,
                )
                app.last_cardholder = self.cardholder
                request = PaymentRequest(
                    self.amount_minor, app.currency, self.transaction_type, self.other_amount_minor
                )
                if self.source.contactless:
                    from terminal.contactless import tap_and_pay

                    capks, revocation = app.session.capk_stores()
                    outcome = tap_and_pay(
                        service,
                        request,
                        transport,
                        self.cardholder,
                        capks=capks,
                        revocation=revocation,
                        wait_for_retap=self.cardholder.wait_for_retap,
                    )
                else:
                    outcome = service.pay(
                        request,
                        transport,
                        self.cardholder,
                        interface="contact",
                        approval=self.approval,
                        kind=self.kind,
                    )
            view = describe(outcome)
        except (UserFacingError, CardTransportError) as exc:
            self._finish_error(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - the cashier gets one sentence, not a traceback
            self._finish_error(INTERNAL_ERROR.format(name=type(exc).__name__))
            return
        self._safe_call(self._show_result, view, outcome)

    def _finish_error(self, sentence: str) -> None:
        text = sentence.strip()
        if text and not text.endswith("."):
            text += "."
        self._safe_call(self._show_error, text)

    def _safe_call(self, fn: Callable[..., None], *args: object) -> None:
        self.pos_app.invoke_later(fn, *args)

    # -- UI thread: results ---------------------------------------------------------------
    def _show_result(self, view: ResultView, outcome: object = None) -> None:
        from terminal.tui.screens.result import ResultScreen

        self.app.switch_screen(ResultScreen(view, outcome=outcome))

    def _show_error(self, sentence: str) -> None:
        from terminal.tui.screens.result import ErrorScreen

        self.app.switch_screen(ErrorScreen(sentence))

    # -- UI thread: the PaymentView protocol ----------------------------------------------
    def cardholder_message(self, message: Message, text: str, language: str) -> None:
        display = self.query_one("#cardholder-display", Static)
        display.border_title = f"Cardholder display ({language})"
        display.update(text)

    def kernel_phase(self, phase: str) -> None:
        self.phases.append(phase)
        lines = [f"✓ {p}" for p in self.phases[:-1]] + [f"▶ {self.phases[-1]} ..."]
        self.query_one("#progress", Static).update("\n".join(lines))

    def ask_application(
        self, choices: list[ApplicationChoice], answer: Callable[[int | None], None]
    ) -> None:
        from terminal.tui.screens.modals import ApplicationModal

        self.app.push_screen(ApplicationModal(choices), answer)

    def ask_confirmation(
        self, choice: ApplicationChoice, answer: Callable[[bool | None], None]
    ) -> None:
        from terminal.tui.screens.modals import ConfirmModal

        self.app.push_screen(ConfirmModal(choice), answer)

    def device_prompt(self, text: str) -> None:
        self.query_one("#device-status", Static).update(text)

    def ask_retap(self, answer: Callable[[bool | None], None]) -> None:
        from terminal.tui.screens.modals import RetapModal

        self.app.push_screen(RetapModal(), answer)

    def ask_pin(self, request: PinRequest, answer: Callable[[PinAnswer | None], None]) -> None:
        from terminal.tui.screens.modals import PinModal

        translator = self.cardholder.translator if self.cardholder else None
        prompt = (
            translator.text(
                Message.LAST_PIN_TRY if request.pin_try_counter == 1 else Message.ENTER_PIN
            )
            if translator
            else "ENTER PIN"
        )
        amount = self.pos_app.currency.format(request.amount_minor)
        session = self.pos_app.session
        hint = session.demo_pin_hint(self.transport, request.online)
        self.app.push_screen(
            PinModal(request, prompt, amount, demo=session.demo, test_pin_hint=hint), answer
        )
