"""Card reader adapters: each implements :class:`emv.ports.CardTransport`.

* :mod:`terminal.readers.pcsc` - contact and contactless readers through pyscard/pcscd.
* :mod:`terminal.readers.nfc`  - contactless readers through nfcpy (PN532 and friends).

Modules are imported on demand so a missing driver stack only affects its own readers.
"""
