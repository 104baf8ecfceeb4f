"""The REST bridge's OpenAPI 3.1 document, written out by hand."""

from __future__ import annotations

from typing import Any

_CERTIFY = "/api/v1/managedchallenge"


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}
            }
        },
    }


def _json(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
        },
    }


def _body(schema: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
        },
    }


_REFUSALS: dict[str, Any] = {
    "400": _problem("A field is missing or malformed; the detail names it."),
    "401": _problem("No client id and secret were sent, or the hub refused them."),
    "403": _problem("The token may not publish for this name, or no config serves it."),
    "413": _problem("The body is larger than the configured limit."),
    "502": _problem("The hub or the DNS back end failed; the detail says why."),
}

_CERTIFY_SECURITY: list[dict[str, list[str]]] = [
    {"clientId": [], "clientSecret": []},
    {"basic": []},
    {},  # AuthKey and AuthSecret in the body
]

_SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "An RFC 9457 problem document.",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
        },
        "required": ["title", "status", "detail"],
    },
    "ManagedChallengeRequest": {
        "type": "object",
        "description": "Certify's request; field names match in any case.",
        "properties": {
            "ChallengeType": {"type": "string", "enum": ["dns-01"]},
            "Identifier": {"type": "string", "examples": ["*.example.com"]},
            "ResponseKey": {
                "type": "string",
                "description": "The TXT record name, _acme-challenge.<identifier>.",
            },
            "ResponseValue": {
                "type": "string",
                "description": "The dns-01 value: 43 characters of unpadded base64url.",
            },
            "AuthKey": {
                "type": "string",
                "description": "Client id, when no header has it.",
            },
            "AuthSecret": {
                "type": "string",
                "description": "Secret, when no header has it.",
            },
        },
        "required": ["Identifier", "ResponseValue"],
    },
    "Operation": {
        "type": "object",
        "description": "How far publishing one value has come; names no principal.",
        "properties": {
            "id": {"type": "string"},
            "status": {
                "type": "string",
                "enum": ["pending", "running", "succeeded", "failed"],
            },
            "createdAt": {"type": ["string", "null"], "format": "date-time"},
            "updatedAt": {"type": ["string", "null"], "format": "date-time"},
            "message": {"type": "string"},
        },
        "required": ["id", "status", "message"],
    },
    "ActionResult": {
        "type": "object",
        "properties": {
            "isSuccess": {"type": "boolean"},
            "message": {"type": "string"},
            "result": {"type": "object"},
        },
        "required": ["isSuccess", "message"],
    },
    "HttpreqBody": {
        "description": "lego httpreq: the default mode or RAW mode.",
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "fqdn": {
                        "type": "string",
                        "examples": ["_acme-challenge.example.com."],
                    },
                    "value": {"type": "string"},
                },
                "required": ["fqdn", "value"],
            },
            {
                "type": "object",
                "description": "RAW mode; the value is the digest of keyAuth.",
                "properties": {
                    "domain": {"type": "string"},
                    "token": {"type": "string"},
                    "keyAuth": {"type": "string"},
                },
                "required": ["domain", "token", "keyAuth"],
            },
        ],
    },
    "Health": {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "hub": {"type": "string"},
        },
    },
}


def openapi_document() -> dict[str, Any]:
    """A fresh copy of the document served at ``/openapi.json``."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Challenge Hub REST bridge",
            "version": "1",
            "description": (
                "Publishes ACME dns-01 TXT values through the hub for Certify's "
                "Managed Challenge API and lego's httpreq provider."
            ),
        },
        "paths": {
            f"{_CERTIFY}/request": {
                "post": {
                    "operationId": "managedChallengeRequest",
                    "summary": "Publish a value and answer once it is served.",
                    "security": _CERTIFY_SECURITY,
                    "requestBody": _body("ManagedChallengeRequest"),
                    "responses": {
                        "200": _json("The value is served.", "ActionResult"),
                        **_REFUSALS,
                    },
                }
            },
            f"{_CERTIFY}/requestbegin": {
                "post": {
                    "operationId": "managedChallengeRequestBegin",
                    "summary": "Start publishing a value; poll the Location.",
                    "security": _CERTIFY_SECURITY,
                    "requestBody": _body("ManagedChallengeRequest"),
                    "responses": {
                        "202": {
                            **_json("Accepted; the operation so far.", "Operation"),
                            "headers": {
                                "Location": {
                                    "description": "The requeststatus URL.",
                                    "schema": {"type": "string"},
                                }
                            },
                        },
                        **_REFUSALS,
                    },
                }
            },
            f"{_CERTIFY}/requeststatus/{{id}}": {
                "get": {
                    "operationId": "managedChallengeRequestStatus",
                    "summary": "An operation's state; needs no credentials.",
                    "security": [{}],
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": _json("The operation.", "Operation"),
                        "404": _problem("No such operation."),
                        "502": _REFUSALS["502"],
                    },
                }
            },
            f"{_CERTIFY}/cleanup": {
                "post": {
                    "operationId": "managedChallengeCleanup",
                    "summary": "Remove a value; one already gone is success.",
                    "security": _CERTIFY_SECURITY,
                    "requestBody": _body("ManagedChallengeRequest"),
                    "responses": {
                        "200": _json("Removed, or nothing to remove.", "ActionResult"),
                        **_REFUSALS,
                    },
                }
            },
            "/httpreq/present": {
                "post": {
                    "operationId": "httpreqPresent",
                    "summary": "lego httpreq: publish a value, answer once served.",
                    "security": [{"basic": []}],
                    "requestBody": _body("HttpreqBody"),
                    "responses": {
                        "200": {"description": "The value is served."},
                        **_REFUSALS,
                    },
                }
            },
            "/httpreq/cleanup": {
                "post": {
                    "operationId": "httpreqCleanup",
                    "summary": "lego httpreq: remove a value.",
                    "security": [{"basic": []}],
                    "requestBody": _body("HttpreqBody"),
                    "responses": {
                        "200": {"description": "Removed, or nothing to remove."},
                        **_REFUSALS,
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "Whether the hub answers.",
                    "security": [{}],
                    "responses": {
                        "200": _json("The hub is serving.", "Health"),
                        "503": _json("The hub is not serving.", "Health"),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "security": [{}],
                    "responses": {"200": {"description": "The OpenAPI document."}},
                }
            },
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "clientId": {"type": "apiKey", "in": "header", "name": "X-Client-ID"},
                "clientSecret": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Client-Secret",
                },
                "basic": {"type": "http", "scheme": "basic"},
            },
        },
    }
