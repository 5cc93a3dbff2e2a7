"""The webhook sink: topics POSTed in batches to an HTTP endpoint, with retries."""

from streamworks.connectors.webhook.config import WebhookSinkConfig
from streamworks.connectors.webhook.sink import WebhookSink

__all__ = ["WebhookSink", "WebhookSinkConfig"]
