"""EMV contactless: Entry Point (Book B) and kernels C-2 and C-3, sans-I/O."""
