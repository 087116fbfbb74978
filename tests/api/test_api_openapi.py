"""The OpenAPI document and the interactive docs."""

import json

import pytest

pytestmark = pytest.mark.django_db

OPERATIONS = {
    "/api/projects": {"get", "post"},
    "/api/projects/{project_id}": {"get"},
    "/api/projects/{project_id}/shots": {"get", "post"},
    "/api/shots/{shot_id}": {"get", "patch"},
    "/api/shots/{shot_id}/quote": {"get"},
    "/api/shots/{shot_id}/takes": {"get", "post"},
    "/api/shots/{shot_id}/takes/best-of": {"post"},
    "/api/takes/{take_id}/final/quote": {"get"},
    "/api/takes/{take_id}/final": {"post"},
    "/api/takes/{take_id}/upscale/quote": {"get"},
    "/api/takes/{take_id}/upscale": {"post"},
    "/api/takes/{take_id}/other-provider": {"post"},
    "/api/takes/{take_id}": {"get"},
    "/api/takes/{take_id}/approve": {"post"},
    "/api/takes/{take_id}/cancel": {"post"},
    "/api/takes/{take_id}/reject": {"post"},
    "/api/credits": {"get"},
    "/api/projects/{project_id}/runs": {"post"},
    "/api/runs/{run_id}": {"get"},
    "/api/runs/{run_id}/pause": {"post"},
    "/api/runs/{run_id}/resume": {"post"},
    "/api/runs/{run_id}/cancel": {"post"},
    "/api/run-shots/{run_shot_id}/approve": {"post"},
    "/api/projects/{project_id}/cut": {"get", "patch"},
    "/api/cut-entries/{entry_id}": {"patch"},
    "/api/projects/{project_id}/cut/renders": {"post"},
    "/api/projects/{project_id}/cut/renders/{render_id}": {"get"},
    "/api/projects/{project_id}/cut/renders/{render_id}/video": {"get"},
    "/api/projects/{project_id}/cut/timeline/{fmt}": {"get"},
    "/api/projects/{project_id}/cut/timeline": {"post"},
    "/api/webhooks/endpoints": {"get", "post"},
    "/api/webhooks/endpoints/{endpoint_id}": {"patch", "delete"},
    "/api/webhooks/endpoints/{endpoint_id}/rotate-secret": {"post"},
    "/api/webhooks/endpoints/{endpoint_id}/deliveries": {"get"},
    "/api/webhooks/deliveries/{delivery_id}/resend": {"post"},
}


@pytest.fixture
def openapi(client) -> dict:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return json.loads(response.content)


def test_every_operation_is_documented_behind_the_bearer_scheme(openapi):
    assert openapi["openapi"].startswith("3.")
    schemes = openapi["components"]["securitySchemes"]
    assert list(schemes.values()) == [{"type": "http", "scheme": "bearer"}]
    (scheme_name,) = schemes
    assert {path: set(methods) for path, methods in openapi["paths"].items()} == OPERATIONS
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            assert operation["security"] == [{scheme_name: []}], f"{method} {path}"


@pytest.mark.parametrize("path", ["/api/shots/{shot_id}/takes", "/api/shots/{shot_id}/takes/best-of",
                                  "/api/takes/{take_id}/final", "/api/takes/{take_id}/upscale",
                                  "/api/takes/{take_id}/other-provider"])
def test_the_idempotency_key_header_is_documented_as_required(openapi, path):
    operation = openapi["paths"][path]["post"]
    (header,) = [p for p in operation["parameters"] if p["in"] == "header"]
    assert (header["name"], header["required"], header["schema"]["maxLength"]) == ("Idempotency-Key", True, 255)
    assert {"201", "400", "402", "404", "409", "422"} <= set(operation["responses"])


def test_schema_references_resolve(openapi):
    names = set(openapi["components"]["schemas"])
    text = json.dumps(openapi)
    prefix = '"#/components/schemas/'
    refs = {chunk.split('"', 1)[0] for chunk in text.split(prefix)[1:]}
    assert refs and refs <= names


def test_the_docs_page_renders(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert b"openapi.json" in response.content
