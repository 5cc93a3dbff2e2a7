"""A small synchronous client of the Confluent Schema Registry REST API.

Synchronous on purpose: codecs (faust's included) decode synchronously, and a schema is
fetched once per id and then served from the cache, so a blocking fetch on the first record
of a new schema is cheaper than threading an event loop through every decode.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import ssl
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamworks.core.settings import Settings
from streamworks.schemas.errors import (
    RegistryAuthenticationError,
    RegistryAuthorizationError,
    RegistryRequestError,
    RegistryTLSError,
    RegistryUnavailableError,
    SchemaNotFoundError,
)
from streamworks.schemas.references import SchemaReference, referenced_schemas, standalone

__all__ = ["RegisteredSchema", "RegistryClient"]

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
_NOT_FOUND_CODES = {40401, 40402, 40403}
_SERVER_ERROR = 500
_UNAUTHORIZED = 401
_FORBIDDEN = 403
# TLS failures that say the connection broke, not that the certificate or protocol is wrong
_TRANSIENT_TLS = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)


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
    references: tuple[SchemaReference, ...] = ()
    """The other subjects' versions whose named types the schema uses."""


class RegistryClient:
    """Talks to one registry URL; caches schemas by id and ids by (subject, schema).

    With ``username`` and ``password`` every request carries HTTP basic auth; an https URL
    is verified against ``cafile`` (default: the system's trust store). The password is
    kept only inside the prepared header and never appears in a repr, log line or error.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        username: str | None = None,
        password: str | None = None,
        cafile: Path | str | None = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"registry URL must look like http://host:port, not {url!r}")
        if (username is None) != (password is None):
            raise ValueError("registry username and password go together")
        self.url = url.rstrip("/")
        self.username = username
        self._parsed = parsed
        self._timeout = timeout
        self._authorization = (
            "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
            if username is not None
            else None
        )
        self._tls: ssl.SSLContext | None = None
        if parsed.scheme == "https":
            try:
                self._tls = ssl.create_default_context(
                    cafile=str(cafile) if cafile is not None else None
                )
            except (OSError, ssl.SSLError) as error:
                raise RegistryTLSError(
                    f"cannot load the registry CA file {cafile}: {error}"
                ) from error
        self._by_id: dict[int, str] = {}
        self._ids: dict[tuple[str, str], int] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, *, timeout: float = 10.0, url: str | None = None
    ) -> RegistryClient:
        """A client of ``settings.registry_url`` (or ``url``) with the registry login and CA."""
        password = settings.registry_password
        return cls(
            url or settings.registry_url,
            timeout=timeout,
            username=settings.registry_username,
            password=password.get_secret_value() if password is not None else None,
            cafile=settings.registry_cafile,
        )

    def __repr__(self) -> str:
        who = f", username={self.username!r}" if self.username is not None else ""
        return f"RegistryClient({self.url!r}{who})"

    # -- the codec's needs ---------------------------------------------------------------

    def schema_by_id(self, schema_id: int) -> str:
        """The schema text of a global id (cached forever: ids never change meaning).

        A schema with references comes back standing alone: the referenced subject versions
        are fetched (recursively) and their named types inlined, so any Avro reader can use it.
        """
        cached = self._by_id.get(schema_id)
        if cached is None:
            data = self._request("GET", f"/schemas/ids/{schema_id}")
            cached = self._standalone(str(data["schema"]), _references(data))
            self._by_id[schema_id] = cached
        return cached

    def register(
        self, subject: str, schema: str, references: Sequence[SchemaReference] = ()
    ) -> int:
        """Register ``schema`` under ``subject`` (idempotent) and return its global id.

        ``references`` name the subject versions defining the named types it uses.
        """
        key = (subject, schema + "".join(json.dumps(r.to_json()) for r in references))
        cached = self._ids.get(key)
        if cached is None:
            body: dict[str, Any] = {"schema": schema, "schemaType": "AVRO"}
            if references:
                body["references"] = [reference.to_json() for reference in references]
            path = f"/subjects/{_quote(subject)}/versions"
            cached = int(self._request("POST", path, body)["id"])
            self._ids[key] = cached
            if not references:
                self._by_id.setdefault(cached, schema)
        return cached

    def _standalone(self, schema: str, references: tuple[SchemaReference, ...]) -> str:
        if not references:
            return schema

        def fetch(reference: SchemaReference) -> tuple[str, tuple[SchemaReference, ...]]:
            found = self.version(reference.subject, reference.version, deleted=True)
            return found.schema, found.references

        return standalone(schema, referenced_schemas(references, fetch))

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

    def version(
        self, subject: str, version: int | str, *, deleted: bool = False
    ) -> RegisteredSchema:
        """One version under ``subject`` (a number or ``latest``; soft-deleted with
        ``deleted``)."""
        query = "?deleted=true" if deleted else ""
        data = self._request("GET", f"/subjects/{_quote(subject)}/versions/{version}{query}")
        return _registered(data)

    def lookup(self, subject: str, schema: str) -> RegisteredSchema | None:
        """The registration of ``schema`` under ``subject``, or None when it is not there."""
        try:
            data = self._request("POST", f"/subjects/{_quote(subject)}", {"schema": schema})
        except SchemaNotFoundError:
            return None
        return _registered(data)

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

    def _connection(self) -> http.client.HTTPConnection:
        host, port = self._parsed.hostname or "", self._parsed.port
        if self._tls is not None:
            return http.client.HTTPSConnection(host, port, timeout=self._timeout, context=self._tls)
        return http.client.HTTPConnection(host, port, timeout=self._timeout)

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        connection = self._connection()
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": CONTENT_TYPE, "Content-Type": CONTENT_TYPE}
        if self._authorization is not None:
            headers["Authorization"] = self._authorization
        try:
            connection.request(method, self._parsed.path.rstrip("/") + path, payload, headers)
            response = connection.getresponse()
            raw = response.read()
        except ssl.SSLError as error:
            if isinstance(error, _TRANSIENT_TLS):
                raise RegistryUnavailableError(
                    f"schema registry {self.url} did not answer {method} {path}: {error}"
                ) from error
            raise RegistryTLSError(
                f"TLS with schema registry {self.url} failed: {_tls_reason(error)}; "
                "set STREAMWORKS_REGISTRY_CAFILE to the CA that signed its certificate"
            ) from error
        except OSError as error:  # refused, unreachable or silent past the timeout
            raise RegistryUnavailableError(
                f"the schema registry at {self.url} does not answer ({method} {path}: "
                f"{error or type(error).__name__}); start one with: streamworks registry "
                "(or point STREAMWORKS_REGISTRY_URL at yours)"
            ) from error
        except http.client.HTTPException as error:
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
        if response.status in (_UNAUTHORIZED, _FORBIDDEN):
            raise self._refused(response.status, method, path, str(message))
        text = f"schema registry {self.url}: {method} {path} failed ({code}): {message}"
        if response.status >= _SERVER_ERROR:
            raise RegistryUnavailableError(text)
        if code in _NOT_FOUND_CODES:
            raise SchemaNotFoundError(text, status=response.status, error_code=code)
        raise RegistryRequestError(text, status=response.status, error_code=code)

    def _refused(
        self, status: int, method: str, path: str, reason: str
    ) -> RegistryAuthenticationError | RegistryAuthorizationError:
        who = f"user {self.username}" if self.username is not None else "an anonymous caller"
        where = path.split("?", 1)[0]
        if status == _UNAUTHORIZED:
            hint = (
                "check STREAMWORKS_REGISTRY_USERNAME and STREAMWORKS_REGISTRY_PASSWORD"
                if self.username is not None
                else "set STREAMWORKS_REGISTRY_USERNAME and STREAMWORKS_REGISTRY_PASSWORD"
            )
            return RegistryAuthenticationError(
                f"schema registry {self.url} refused the login of {who} for {method} {where} "
                f"(401); {hint}",
                user=self.username,
                method=method,
                path=where,
            )
        # the registry's own message says why (read-only role, subject outside the patterns)
        why = reason.splitlines()[0] if reason else "forbidden"
        return RegistryAuthorizationError(
            f"schema registry {self.url} refused {method} {where} to {who} (403): {why}",
            user=self.username,
            method=method,
            path=where,
        )


def _tls_reason(error: ssl.SSLError) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"certificate verify failed ({error.verify_message})"
    return str(error.reason or error).lower().replace("_", " ")


def _references(data: dict[str, Any]) -> tuple[SchemaReference, ...]:
    return tuple(SchemaReference.from_json(item) for item in data.get("references") or ())


def _registered(data: dict[str, Any]) -> RegisteredSchema:
    return RegisteredSchema(
        subject=str(data["subject"]),
        version=int(data["version"]),
        schema_id=int(data["id"]),
        schema=str(data["schema"]),
        references=_references(data),
    )


def _quote(subject: str) -> str:
    return urllib.parse.quote(subject, safe="")
