"""The reference project's own connector code; its connector files are beside it (YAML)."""
