"""The reference project's operations: its demo (``ops.demo``) beside its deployment files."""
