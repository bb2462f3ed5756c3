"""The terminal application: CLI, Textual cashier screen, journal and orchestration.

This is the only layer that may import everything (``emv``, ``crypto``,
``acquirer_client``, ``hardware_sim``) and the I/O libraries.
"""
