"""The webhook sink: topics POSTed in batches to an HTTP endpoint, with retries."""

from connectors.webhook.config import WebhookSinkConfig
from connectors.webhook.sink import WebhookSink

__all__ = ["WebhookSink", "WebhookSinkConfig"]
