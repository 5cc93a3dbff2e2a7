"""A small synchronous client of the Confluent Schema Registry REST API.

Synchronous on purpose: codecs (faust's included) decode synchronously, and a schema is
fetched once per id and then served from the cache, so a blocking fetch on the first record
of a new schema is cheaper than threading an event loop through every decode.
"""

from __future__ import annotations

import http.client
import json
import logging
import urllib.parse
from dataclasses import dataclass
from typing import Any

from schemas.errors import (
    RegistryRequestError,
    RegistryUnavailableError,
    SchemaNotFoundError,
)

__all__ = ["RegisteredSchema", "RegistryClient"]

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
_NOT_FOUND_CODES = {40401, 40402, 40403}
_SERVER_ERROR = 500


@dataclass(frozen=True)
class RegisteredSchema:
    """A schema as registered under a subject."""

    subject: str
    """The subject, e.g. ``orders.raw-value``."""
    version: int
    """Its version under the subject, from 1."""
    schema_id: int
    """The global id that framed records carry."""
    schema: str
    """The schema text."""


class RegistryClient:
    """Talks to one registry URL; caches schemas by id and ids by (subject, schema)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"registry URL must look like http://host:port, not {url!r}")
        self.url = url.rstrip("/")
        self._parsed = parsed
        self._timeout = timeout
        self._by_id: dict[int, str] = {}
        self._ids: dict[tuple[str, str], int] = {}

    # -- the codec's needs ---------------------------------------------------------------

    def schema_by_id(self, schema_id: int) -> str:
        """The schema text of a global id (cached forever: ids never change meaning)."""
        cached = self._by_id.get(schema_id)
        if cached is None:
            cached = str(self._request("GET", f"/schemas/ids/{schema_id}")["schema"])
            self._by_id[schema_id] = cached
        return cached

    def register(self, subject: str, schema: str) -> int:
        """Register ``schema`` under ``subject`` (idempotent) and return its global id."""
        key = (subject, schema)
        cached = self._ids.get(key)
        if cached is None:
            body = {"schema": schema, "schemaType": "AVRO"}
            path = f"/subjects/{_quote(subject)}/versions"
            cached = int(self._request("POST", path, body)["id"])
            self._ids[key] = cached
            self._by_id.setdefault(cached, schema)
        return cached

    # -- the rest of the API the CLI uses ------------------------------------------------

    def subjects(self) -> list[str]:
        """Every live subject."""
        return [str(s) for s in self._request("GET", "/subjects")]

    def versions(self, subject: str) -> list[int]:
        """The live version numbers under ``subject``, oldest first."""
        return [int(v) for v in self._request("GET", f"/subjects/{_quote(subject)}/versions")]

    def latest(self, subject: str) -> RegisteredSchema:
        """The newest live version under ``subject``."""
        return self.version(subject, "latest")

    def version(self, subject: str, version: int | str) -> RegisteredSchema:
        """One version under ``subject`` (a number or ``latest``)."""
        data = self._request("GET", f"/subjects/{_quote(subject)}/versions/{version}")
        return RegisteredSchema(
            subject=str(data["subject"]),
            version=int(data["version"]),
            schema_id=int(data["id"]),
            schema=str(data["schema"]),
        )

    def lookup(self, subject: str, schema: str) -> RegisteredSchema | None:
        """The registration of ``schema`` under ``subject``, or None when it is not there."""
        try:
            data = self._request("POST", f"/subjects/{_quote(subject)}", {"schema": schema})
        except SchemaNotFoundError:
            return None
        return RegisteredSchema(
            subject=str(data["subject"]),
            version=int(data["version"]),
            schema_id=int(data["id"]),
            schema=str(data["schema"]),
        )

    def test_compatibility(
        self, subject: str, schema: str, version: int | str = "latest"
    ) -> tuple[bool, list[str]]:
        """Whether ``schema`` may be registered under ``subject``, with the reasons if not."""
        path = f"/compatibility/subjects/{_quote(subject)}/versions/{version}?verbose=true"
        data = self._request("POST", path, {"schema": schema})
        return bool(data["is_compatible"]), [str(m) for m in data.get("messages", [])]

    def compatibility(self, subject: str | None = None) -> str:
        """The compatibility level of ``subject`` (falling back to global), or the global one."""
        path = f"/config/{_quote(subject)}?defaultToGlobal=true" if subject else "/config"
        return str(self._request("GET", path)["compatibilityLevel"])

    def set_compatibility(self, level: str, subject: str | None = None) -> None:
        """Set the compatibility level globally or for one subject."""
        path = f"/config/{_quote(subject)}" if subject else "/config"
        self._request("PUT", path, {"compatibility": level})

    # -- transport -----------------------------------------------------------------------

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        connection_type = (
            http.client.HTTPSConnection
            if self._parsed.scheme == "https"
            else http.client.HTTPConnection
        )
        connection = connection_type(
            self._parsed.hostname or "", self._parsed.port, timeout=self._timeout
        )
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": CONTENT_TYPE, "Content-Type": CONTENT_TYPE}
        try:
            connection.request(method, self._parsed.path.rstrip("/") + path, payload, headers)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise RegistryUnavailableError(
                f"schema registry {self.url} did not answer {method} {path}: {error}"
            ) from error
        finally:
            connection.close()
        try:
            data = json.loads(raw) if raw else {}
        except ValueError as error:
            raise RegistryUnavailableError(
                f"schema registry {self.url} answered {method} {path} with non-JSON "
                f"(status {response.status})"
            ) from error
        if response.status < 400:  # noqa: PLR2004 - HTTP success and redirect range
            return data
        code = int(data.get("error_code", response.status)) if isinstance(data, dict) else 0
        message = data.get("message", "") if isinstance(data, dict) else str(data)
        text = f"schema registry {self.url}: {method} {path} failed ({code}): {message}"
        if response.status >= _SERVER_ERROR:
            raise RegistryUnavailableError(text)
        if code in _NOT_FOUND_CODES:
            raise SchemaNotFoundError(text, status=response.status, error_code=code)
        raise RegistryRequestError(text, status=response.status, error_code=code)


def _quote(subject: str) -> str:
    return urllib.parse.quote(subject, safe="")
