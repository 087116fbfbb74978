"""The cut's provenance: a sidecar record always; a C2PA manifest with the takes as ingredients when signing is set up."""

import json
from pathlib import Path

import pytest
from c2pa import Context, Reader

from studio.cuts.models import RenderState
from studio.cuts.provenance import ASSERTION_LABEL
from studio.cuts.rendering import cut_render_request, cut_render_run
from tests.jobs.test_provenance import signing_chain, signing_settings  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)


def manifest_of(path: Path, root_pem: str) -> tuple[dict, str]:
    options = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}, "trust": {"user_anchors": root_pem}}
    with path.open("rb") as handle:
        reader = Reader("video/mp4", handle, context=Context.from_dict(options))
        try:
            store, state = json.loads(reader.json()), reader.get_validation_state()
        finally:
            reader.close()
    return store["manifests"][store["active_manifest"]], state


def test_a_signed_cut_lists_its_takes_as_ingredients(three_shot_cut, signing_settings):  # noqa: F811
    render = cut_render_run(render_id=cut_render_request(cut=three_shot_cut).pk)
    assert render.state == RenderState.READY, render.failure_reason

    manifest, state = manifest_of(Path(render.video.path), signing_settings["root_pem"])
    assert state == "Trusted"
    assert [ingredient["title"] for ingredient in manifest["ingredients"]] == ["Arrival.mp4", "Market.mp4", "Lantern.mp4"]
    record = next(a["data"] for a in manifest["assertions"] if a["label"] == ASSERTION_LABEL)
    takes = [entry.take for entry in three_shot_cut.entries.order_by("position")]
    assert [i["take_id"] for i in record["ingredients"]] == [str(take.public_id) for take in takes]
    assert record["ingredients"][0]["provenance"]["seed"] == takes[0].seed


def test_without_signing_the_record_is_a_sidecar(three_shot_cut, settings):
    settings.C2PA_SIGNING_CERT_PATH = ""
    render = cut_render_run(render_id=cut_render_request(cut=three_shot_cut).pk)
    record = json.loads(Path(render.provenance.path).read_text())
    assert record["c2pa_signed"] is False and len(record["ingredients"]) == 3
    assert record["inputs_hash"] == render.inputs_hash
