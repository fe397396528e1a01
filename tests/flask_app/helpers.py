"""Assertions shared by the storefront tests."""

from __future__ import annotations


def assert_error(response, status: int, code: str) -> dict:
    """The one error shape; returns its details."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]["details"]
