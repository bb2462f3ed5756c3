"""The contact EMV kernel (EMV Book 3 Section 10), one module per processing step.

:class:`emv.kernel.contact.ContactKernel` runs the steps in order; each step module is a
set of plain functions over a :class:`emv.kernel.context.TransactionContext`.
"""
