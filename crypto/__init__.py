"""Payment cryptography built on the ``cryptography`` package.

Imports nothing of ours.  Every primitive comes from ``cryptography``; this package only
composes them the way the payment standards say (EMV Book 2, ISO 9797-1, ISO 9564,
ANSI X9.24).
"""
