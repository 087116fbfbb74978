"""Malformed input answers 4xx with the API's one error body, never 500 and never an HTML page."""

import pytest

from studio.models import Project, Shot

pytestmark = pytest.mark.django_db

NUL = "\x00"
SHOT_TEXT_FIELDS = ("title", "subject", "scene", "camera", "motion", "style", "negative", "aspect_ratio")
FORTY_DIGITS = "1" * 40


def assert_error_body(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code and body["detail"]
    return body


def assert_invalid_field(response, field: str) -> None:
    body = assert_error_body(response, 422, "invalid")
    assert body["errors"][field], body


@pytest.mark.parametrize("field", ["name", "description"])
def test_a_nul_character_in_a_project_field_is_invalid(api, creator, field):
    response = api.post("/projects", {"name": "Harbour", field: f"Dawn{NUL}"})

    assert_invalid_field(response, field)
    assert not Project.objects.exists()


@pytest.mark.parametrize("field", SHOT_TEXT_FIELDS)
def test_a_nul_character_in_a_new_shot_field_is_invalid(api, project, field):
    shot = {"title": "Harbour", "subject": "Boats at dawn", field: f"x{NUL}y"}

    assert_invalid_field(api.post(f"/projects/{project.pk}/shots", shot), field)
    assert not Shot.objects.exists()


@pytest.mark.parametrize("field", SHOT_TEXT_FIELDS)
def test_a_nul_character_in_a_shot_patch_is_invalid(api, shot, field):
    before = Shot.objects.values().get(pk=shot.pk)

    assert_invalid_field(api.patch(f"/shots/{shot.pk}", {field: NUL}), field)
    assert Shot.objects.values().get(pk=shot.pk) == before


@pytest.mark.parametrize(("path", "field"), [("/projects", "limit"), ("/projects", "offset"),
                                             ("/shots/{shot}/quote", "fresh")])
def test_a_nul_character_in_a_query_parameter_is_invalid(api, shot, path, field):
    assert_invalid_field(api.get(path.format(shot=shot.pk), **{field: f"1{NUL}"}), field)


def test_a_nul_character_in_any_query_parameter_is_invalid(api, project):
    # No operation takes free text in its query string yet; the next one will not have to remember.
    assert_invalid_field(api.get("/projects", search=f"night{NUL}"), "search")


@pytest.mark.parametrize("body", [b'{"name": "Harbour \\ud800"}', b'{"name": "Harbour \xed\xa0\x80"}'],
                         ids=["json-escape", "utf8-encoded"])
def test_a_lone_surrogate_in_a_json_string_is_invalid(api, creator, body):
    # No UTF-8 text, and so no database, can hold U+D800 alone; Python's JSON parser lets it through.
    response = api.client.post("/api/projects", body, content_type="application/json", headers=api._headers(None))

    assert_invalid_field(response, "name")
    assert not Project.objects.exists()


def test_a_body_that_is_not_utf8_is_a_bad_request(api, creator):
    response = api.client.post("/api/projects", b'{"name": "Harbour \xff"}', content_type="application/json",
                               headers=api._headers(None))

    assert_error_body(response, 400, "bad_request")
    assert not Project.objects.exists()


def test_a_body_over_the_upload_limit_is_too_large(api, creator, settings):
    body = '{"name": "' + "x" * (13 * 1024 * 1024) + '"}'
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    response = api.client.post("/api/projects", body, content_type="application/json", headers=api._headers(None))

    assert_error_body(response, 413, "too_large")
    assert not Project.objects.exists()


@pytest.mark.parametrize("field", ["limit", "offset"])
@pytest.mark.parametrize("path", ["/projects", "/projects/{project}/shots", "/shots/{shot}/takes"])
def test_a_forty_digit_page_parameter_is_invalid(api, shot, path, field):
    url = path.format(project=shot.project_id, shot=shot.pk)

    assert_invalid_field(api.get(url, **{field: FORTY_DIGITS}), field)


def test_the_largest_page_is_still_served(api, project):
    page = api.get("/projects", limit=100, offset=10**9)

    assert page.status_code == 200 and page.json()["items"] == []


@pytest.mark.parametrize("path", ["/projects/{n}", "/shots/{n}", "/shots/{n}/quote", "/takes/{n}"])
def test_a_forty_digit_id_is_not_found(api, creator, path):
    assert_error_body(api.get(path.format(n=FORTY_DIGITS)), 404, "not_found")


@pytest.mark.parametrize("path", ["/nope", "/projects/abc", "/projects/1/nope", "/"])
def test_an_unknown_api_path_is_a_json_not_found(api, path):
    assert_error_body(api.get(path), 404, "not_found")


def test_an_unknown_api_path_is_not_found_without_a_key(anonymous):
    assert_error_body(anonymous.post("/nope", {}), 404, "not_found")


def test_a_wrong_method_is_a_json_method_not_allowed(api, project):
    response = api.client.delete(f"/api/projects/{project.pk}", headers=api._headers(None))

    assert_error_body(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET"


def test_a_request_django_refuses_before_the_api_is_a_json_bad_request(api):
    response = api.client.get("/api/projects", headers=api._headers(None), HTTP_HOST="studio.evil.example")

    assert_error_body(response, 400, "bad_request")
