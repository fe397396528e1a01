"""Request validation with pydantic, and the OpenAPI document built from the same declarations.

A view says what it takes and what it returns with ``@operation(...)``; the wrapper parses
and validates the query string and JSON body into pydantic models (failures become the
one error shape), and ``openapi_document(app)`` walks the app's URL map and renders every
declared operation. Nothing in the document is written by hand, so it cannot drift.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, request
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.json_schema import models_json_schema
from pydantic_core import to_json
from werkzeug.exceptions import HTTPException

from apps.flask_app import limits, request_id, tokens
from apps.flask_app import staff as staff_sessions
from apps.flask_app.db import connection
from apps.flask_app.errors import ApiError, unauthorized
from apps.flask_app.models import INT64_MAX, ErrorBody

BEARER = re.compile(r"Bearer ([A-Za-z0-9_\-.~+/]{1,200}=*)", re.IGNORECASE)


@dataclass(frozen=True)
class Header:
    """A request header an operation reads (validated by the view with ``parse``)."""

    name: str
    adapter: TypeAdapter[Any]
    description: str
    required: bool = False

    def parse(self) -> Any:
        raw = request.headers.get(self.name)
        if raw is None:
            return None
        try:
            return self.adapter.validate_python(raw)
        except ValidationError as exc:
            raise invalid(exc, where=self.name) from None


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: how a success response's values feed another operation (by endpoint).

    ``parameters`` and ``request_body`` hold runtime expressions (``$response.body#/id``).
    A ``request_body`` is the whole body to send, with expressions nested in it: that is
    schemathesis's reading (told by ``x-schemathesis`` not to mix generated fields in, so
    its stateful phase really orders the product it just read); a reader without that
    extension sees the body's shape with the expression in place.
    """

    target: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    request_body: Any = None

    def render(self) -> dict[str, Any]:
        out: dict[str, Any] = {"operationId": operation_id(self.target)}
        if self.parameters:
            out["parameters"] = dict(self.parameters)
        if self.request_body is not None:
            out["requestBody"] = self.request_body
            out["x-schemathesis"] = {"merge_body": False}
        return out


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    responses: Mapping[int, type[BaseModel] | None]
    errors: tuple[int, ...] = ()
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    auth: bool = False  # a customer's bearer token
    # The view's own statement checks the token (one round trip fewer): it gets
    # ``token_hash``, not ``customer_id``; a request refused before it runs (a bad body or
    # header) has its token checked first all the same, so a 401 still comes first.
    token_in_statement: bool = False
    staff: bool = False  # the back office's session cookie (a staff session)
    permission: str | None = None  # a back-office permission the staff member must hold
    headers: tuple[Header, ...] = ()
    response_headers: Mapping[int, Mapping[str, str]] = field(default_factory=dict)
    path_params: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    description: str | None = None
    # OpenAPI links from this operation's success responses, by name.
    links: Mapping[str, Link] = field(default_factory=dict)
    # A rate limit per client address (limits.enforce), counted before anything else.
    limit: str | None = None


def operation(**kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare an endpoint's inputs and outputs.

    The view gets ``customer_id`` (auth: the bearer token's customer, 401 before anything
    else is looked at; ``token_hash`` instead with token_in_statement) or ``staff`` (staff:
    the back office's session, 401 without one, 403 without ``permission``), ``query`` and
    ``body`` (validated models), ``headers`` (the declared headers' values, by name) and
    its path arguments.
    """
    op = Operation(**kwargs)
    if op.permission is not None and not op.staff:
        raise TypeError("a permission is a staff member's: declare staff=True too")
    if op.token_in_statement and not op.auth:
        raise TypeError("token_in_statement is for operations with auth=True")

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(**path: Any) -> Any:
            if op.limit is not None:
                limits.enforce(op.limit)
            token = None
            if op.auth:
                token = bearer_token()
                if op.token_in_statement:
                    path["token_hash"] = tokens.token_hash(token)
                else:
                    path["customer_id"] = tokens.customer_id(connection(), token)
            if op.staff:
                path["staff"] = staff_sessions.require(connection(), op.permission)
            try:
                if op.query is not None:
                    path["query"] = parse_query(op.query)
                if op.body is not None:
                    path["body"] = parse_body(op.body)
                if op.headers:
                    path["headers"] = {header.name: header.parse() for header in op.headers}
            except (ApiError, HTTPException):
                if op.token_in_statement:
                    tokens.customer_id(connection(), token)  # type: ignore[arg-type]
                raise
            return view(**path)

        wrapper.operation = op  # type: ignore[attr-defined]
        return wrapper

    return decorate


def bearer_token() -> str:
    match = BEARER.fullmatch(request.headers.get("Authorization", "").strip())
    if match is None:
        raise unauthorized("send your API token as: Authorization: Bearer <token>")
    return match.group(1)


def parse_query(model: type[BaseModel]) -> BaseModel:
    repeated = sorted(name for name, values in request.args.lists() if len(values) > 1)
    if repeated:
        message = "give this parameter once"
        raise ApiError(
            422,
            "validation_error",
            f"invalid query: {repeated[0]}: {message}",
            {"in": "query", "fields": dict.fromkeys(repeated, message)},
        )
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise invalid(exc, where="query") from None


def parse_body(model: type[BaseModel]) -> BaseModel:
    if not request.is_json:
        raise ApiError(
            415,
            "unsupported_media_type",
            "send a JSON body with Content-Type: application/json",
            {"content_type": request.mimetype or None},
        )
    raw = request.get_data(cache=True)  # 413 past MAX_CONTENT_LENGTH
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise ApiError(
                400, "malformed_json", "the request body is not valid JSON", {}
            ) from None
        raise invalid(exc, where="body") from None


def field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def invalid(exc: ValidationError, *, where: str) -> ApiError:
    fields: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        path = field_path(error["loc"]) or where
        message = error["msg"].removeprefix("Value error, ")
        fields[path] = f"{fields[path]}; {message}" if path in fields else message
    first = next(iter(fields.items()))
    return ApiError(
        422,
        "validation_error",
        f"invalid {where}: {first[0]}: {first[1]}",
        {"in": where, "fields": fields},
    )


def order_id_or_404(order_id: int) -> int:
    if not 1 <= order_id <= INT64_MAX:
        raise ApiError(404, "order_not_found", f"no order {order_id}", {"order_id": order_id})
    return order_id


# --- the OpenAPI document ----------------------------------------------------------------

REASONS = {
    200: "OK",
    201: "Created",
    204: "Done: no content",
    400: "Malformed JSON body",
    401: "Missing, unknown, revoked or expired API token",
    403: "Not allowed to this staff member",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Body too large",
    415: "Body is not JSON",
    422: "Invalid request",
    429: "Too many requests: retry after Retry-After seconds",
    500: "Unexpected error: logged on the server under details.request_id",
    503: "Database unavailable, or the storefront's migrations not run",
}
# Every response carries the request id (components.headers).
RETRY_AFTER = {
    "description": "Seconds to wait before retrying",
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}
HEADERS = {
    "X-Request-Id": {
        "description": request_id.DESCRIPTION,
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": request_id.MAX_LENGTH},
    },
}
STAFF_REASONS = {
    401: "Not logged in to the back office on this host (or the staff session ended)",
    403: "The staff member lacks the back-office permission this needs",
}
_PATH_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def operation_id(endpoint: str) -> str:
    """``orders.get_order`` -> ``orders_get_order``."""
    return endpoint.replace(".", "_")


def openapi_document(app: Flask, *, title: str, version: str, server: str = "/") -> dict[str, Any]:
    """The document for the app mounted at ``server`` (its script root, "/" at the root)."""
    operations: list[tuple[str, str, str, Operation]] = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        op = getattr(app.view_functions[rule.endpoint], "operation", None)
        if op is None:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operations.append((rule.rule, method.lower(), rule.endpoint, op))
    documented = {endpoint for _rule, _method, endpoint, _op in operations}

    models: set[tuple[type[BaseModel], str]] = {(ErrorBody, "serialization")}
    for _rule, _method, _endpoint, op in operations:
        if op.body is not None:
            models.add((op.body, "validation"))
        models.update((m, "serialization") for m in op.responses.values() if m is not None)
    refs, defs = models_json_schema(
        sorted(models, key=lambda m: (m[0].__name__, m[1])),
        ref_template="#/components/schemas/{model}",
    )

    paths: dict[str, dict[str, Any]] = {}
    for rule, method, endpoint, op in operations:
        path = _PATH_PARAM.sub(lambda m: "{" + m.group(2) + "}", rule)
        missing = {link.target for link in op.links.values()} - documented
        if missing:
            raise LookupError(f"{endpoint} links to undocumented endpoints: {sorted(missing)}")
        paths.setdefault(path, {})[method] = _operation_object(rule, endpoint, op, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "servers": [{"url": server}],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "headers": HEADERS,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token from POST /api/customers or POST /api/tokens",
                },
                "staffSession": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": staff_sessions.COOKIE,
                    "description": "the back office's session cookie: log in to the back "
                    "office (Django admin) on the same host; the database knows the session "
                    "by its hash",
                },
            },
        },
    }


def _operation_object(
    rule: str,
    endpoint: str,
    op: Operation,
    refs: Mapping[tuple[type[BaseModel], str], dict[str, Any]],
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": operation_id(endpoint),
        "summary": op.summary,
        "tags": [op.tag],
    }
    if op.description:
        out["description"] = op.description
    parameters: list[dict[str, Any]] = []
    for converter, name in _PATH_PARAM.findall(rule):
        schema = op.path_params.get(name) or (
            {"type": "integer", "minimum": 1, "maximum": INT64_MAX}
            if converter == "int"
            else {"type": "string"}
        )
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    if op.query is not None:
        schema = op.query.model_json_schema()
        required = set(schema.get("required", ()))
        for name, prop in schema["properties"].items():
            prop = {k: v for k, v in prop.items() if k not in ("title", "description")}
            param = {"name": name, "in": "query", "required": name in required, "schema": prop}
            if description := schema["properties"][name].get("description"):
                param["description"] = description
            parameters.append(param)
    for header in op.headers:
        parameters.append(
            {
                "name": header.name,
                "in": "header",
                "required": header.required,
                "description": header.description,
                "schema": header.adapter.json_schema(),
            }
        )
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    if op.auth:
        out["security"] = [{"bearerAuth": []}]
    if op.staff:
        out["security"] = [{"staffSession": []}]
    errors = set(op.errors) | {500, 503}
    if op.body is not None:
        errors |= {400, 413, 415, 422}
    if op.query is not None or op.headers:
        errors.add(422)
    if op.auth or op.staff:
        errors.add(401)
    if op.limit is not None:
        errors.add(429)
    if op.permission is not None:
        errors.add(403)
    responses: dict[str, Any] = {}
    for status, model in sorted(op.responses.items()):
        response: dict[str, Any] = {"description": REASONS.get(status, "OK")}
        if model is not None:
            response["content"] = {"application/json": {"schema": refs[(model, "serialization")]}}
        response["headers"] = _headers(
            {
                name: {"description": description, "schema": {"type": "string"}}
                for name, description in op.response_headers.get(status, {}).items()
            }
        )
        if op.links and model is not None:
            response["links"] = {name: link.render() for name, link in op.links.items()}
        responses[str(status)] = response
    error_schema = refs[(ErrorBody, "serialization")]
    reasons = {**REASONS, **(STAFF_REASONS if op.staff else {})}
    for status in sorted(errors):
        responses[str(status)] = {
            "description": reasons[status],
            "headers": _headers({}, retry_after={429: True, 503: False}.get(status)),
            "content": {"application/json": {"schema": error_schema}},
        }
    out["responses"] = responses
    return out


def _headers(own: dict[str, Any], retry_after: bool | None = None) -> dict[str, Any]:
    """A response's headers: its own, the request id, and Retry-After (required or not)."""
    out: dict[str, Any] = {**own, "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}
    if retry_after is not None:
        out["Retry-After"] = {**RETRY_AFTER, "required": retry_after}
    return out


def json_response(
    body: BaseModel | Mapping[str, Any],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A model, or plain data shaped as one (rows the database returned, which need no
    validation on the way out), as JSON: pydantic-core writes both the same way."""
    data = body.model_dump_json() if isinstance(body, BaseModel) else to_json(body)
    return Response(data, status, headers, mimetype="application/json")
