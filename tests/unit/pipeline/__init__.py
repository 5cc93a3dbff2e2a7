"""Tests of the pipeline declarations (streamworks.pipeline)."""
