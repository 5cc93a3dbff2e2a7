"""The built wheel: what a user installs (needs PyPI or a warm pip cache; no broker)."""
