"""Tests of the platform and of the reference project built on it.

The reference project (``streams``, ``schemas``, ``connectors``, ``ops`` beside ``tests``) is
not installed: pytest's rootdir is on ``sys.path``. Each test module imports the records it
uses (framework tests the kit's, ``tests.kit.records``; flagship tests the project's,
``schemas.records`` or ``streams.orders``), and importing them makes their contracts known.
"""
