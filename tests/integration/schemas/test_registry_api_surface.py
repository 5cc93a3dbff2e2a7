"""Confluent's REST surface over real HTTP against a real registry: odd subjects, GET /schemas,
content negotiation, compatibility against a missing version, ids that are not numbers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from streamworks.testing.registry import RegistryThread

V1 = "application/vnd.schemaregistry.v1+json"
SCHEMA = json.dumps({"type": "record", "name": "User", "fields": [{"name": "id", "type": "long"}]})


@pytest.fixture
def http(registry: RegistryThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry.url, headers={"Content-Type": V1}) as client:
        yield client


def answer(response: httpx.Response) -> tuple[int, int, str]:
    body = response.json()
    assert set(body) == {"error_code", "message"}, body
    return response.status_code, body["error_code"], body["message"]


def test_subjects_with_braces_quotes_and_slashes(http: httpx.Client) -> None:
    subjects = ["with{braces}", 'it\'s "quoted"', "com/acme/user.proto"]
    for subject in subjects:
        encoded = quote(subject, safe="")
        registered = http.post(f"/subjects/{encoded}/versions", json={"schema": SCHEMA})
        assert registered.status_code == 200, registered.text
        version = http.get(f"/subjects/{encoded}/versions/latest/").json()
        assert (version["subject"], version["version"]) == (subject, 1)
        assert http.put(f"/config/{encoded}", json={"compatibility": "NONE"}).status_code == 200
        assert http.get(f"/config/{encoded}").json() == {"compatibilityLevel": "NONE"}
    assert http.get("/subjects").json() == sorted(subjects)
    listed = http.get("/schemas", params={"subjectPrefix": "com/", "latestOnly": "true"}).json()
    assert [(entry["subject"], entry["version"]) for entry in listed] == [(subjects[2], 1)]


def test_accept_and_content_type(http: httpx.Client) -> None:
    assert http.get("/subjects").headers["content-type"] == V1
    plain = http.get("/subjects", headers={"Accept": "application/json"})
    assert plain.headers["content-type"] == "application/json"
    weighted = http.get(
        "/subjects",
        headers={
            "Accept": "application/vnd.schemaregistry.v2+json; q=0.1, application/json; q=0.9"
        },
    )
    assert weighted.headers["content-type"] == "application/json"
    refused = http.get("/subjects", headers={"Accept": "text/*"})
    assert answer(refused) == (406, 406, "HTTP 406 Not Acceptable")
    html = http.put(
        "/config", content=b'{"compatibility": "NONE"}', headers={"Content-Type": "text/html"}
    )
    assert answer(html) == (415, 415, "HTTP 415 Unsupported Media Type")


def test_compatibility_and_id_answers(http: httpx.Client) -> None:
    check = {"schema": SCHEMA}
    missing = http.post("/compatibility/subjects/nobody/versions/1", json=check)
    assert answer(missing) == (404, 40402, "Version 1 not found.")
    assert http.post("/subjects/s/versions", json=check).status_code == 200
    assert http.delete("/subjects/s/versions/1").json() == 1
    deleted = http.post("/compatibility/subjects/s/versions/1", json=check)
    assert answer(deleted) == (404, 40402, "Version 1 not found.")
    assert answer(http.get("/schemas/ids/invalid")) == (404, 404, "HTTP 404 Not Found")
    assert answer(http.get("/schemas/ids/424242")) == (404, 40403, "Schema 424242 not found")
    assert answer(http.get("/subjects/s/versions/1")) == (404, 40401, "Subject 's' not found.")
    assert answer(http.get("/subjects/s/versions/zero")) == (
        422,
        42202,
        "The specified version 'zero' is not a valid version id. "
        'Allowed values are between [1, 2^31-1] and the string "latest"',
    )
