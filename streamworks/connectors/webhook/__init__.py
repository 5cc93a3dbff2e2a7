"""The webhook sink: topics POSTed in batches to an HTTP endpoint, with retries."""

from streamworks.connectors.base.kind import Kind, register_kind
from streamworks.connectors.webhook.config import WebhookSinkConfig
from streamworks.connectors.webhook.sink import WebhookSink

__all__ = ["WEBHOOK", "WebhookSink", "WebhookSinkConfig"]

WEBHOOK = register_kind(Kind(WebhookSinkConfig, WebhookSink))
"""``kind: webhook``: the webhook sink."""
