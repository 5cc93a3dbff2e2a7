"""Tests of the platform and of the reference project built on it.

The reference project (``streams``, ``schemas``, ``connectors``, ``ops`` beside ``tests``) is
not installed: pytest's rootdir is on ``sys.path``, and importing ``schemas`` makes the
project's contracts known, as the project's own code does.
"""

import schemas  # noqa: F401  (registers the reference project's contracts)
