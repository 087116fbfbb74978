"""Provenance records per take, and final exports: C2PA-signed with a local test chain, else a sidecar."""

import datetime
import hashlib
import io
import json

import av
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.loader import render_to_string
from django.test import Client
from PIL import Image

from jobs.export import take_export
from jobs.models import Take
from jobs.provenance import (
    ASSERTION_LABEL,
    c2pa_read,
    provenance_export,
    take_export_store,
    take_provenance,
)
from studio.services.images import character_image_add
from studio.services.projects import character_create, shot_update
from studio.services.takes import shot_take_request, take_approve, take_reject
from studio.services.tokens import api_token_create
from tests.jobs.test_pipeline import take_run_and_evaluate

pytestmark = pytest.mark.django_db
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")


# -- a throwaway C2PA chain: root CA → intermediate CA → leaf with an ExtendedKeyUsage ----------


def _name(common):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Shotcraft tests")])


def _certificate(subject, issuer, public_key, signing_key, *, ca, issuer_key=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key((issuer_key or signing_key).public_key()),
                              critical=False))
    if ca:
        usage = dict(digital_signature=False, key_cert_sign=True, crl_sign=True)
    else:
        usage = dict(digital_signature=True, key_cert_sign=False, crl_sign=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING]),
                                        critical=False)
    builder = builder.add_extension(x509.KeyUsage(content_commitment=False, key_encipherment=False, data_encipherment=False,
                                                  key_agreement=False, encipher_only=False, decipher_only=False, **usage),
                                    critical=True)
    return builder.sign(signing_key, hashes.SHA256())


@pytest.fixture(scope="module")
def signing_chain(tmp_path_factory):
    root_key, inter_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _certificate("Test Root", "Test Root", root_key.public_key(), root_key, ca=True)
    inter = _certificate("Test Intermediate", "Test Root", inter_key.public_key(), root_key, ca=True)
    leaf = _certificate("Shotcraft Signer", "Test Intermediate", leaf_key.public_key(), inter_key, ca=False)
    folder = tmp_path_factory.mktemp("c2pa")
    pem = serialization.Encoding.PEM
    (folder / "chain.pem").write_bytes(leaf.public_bytes(pem) + inter.public_bytes(pem))
    (folder / "key.pem").write_bytes(leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
    return {"cert": folder / "chain.pem", "key": folder / "key.pem", "root_pem": root.public_bytes(pem).decode()}


@pytest.fixture
def signing_settings(settings, signing_chain):
    settings.C2PA_SIGNING_CERT_PATH = str(signing_chain["cert"])
    settings.C2PA_SIGNING_KEY_PATH = str(signing_chain["key"])
    return signing_chain


# -- takes ----------------------------------------------------------------------------------


def _png() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.effect_mandelbrot((320, 240), (-2.0, -1.2, 1.0, 1.2), 60).convert("RGB").save(buffer, format="PNG")
    return SimpleUploadedFile("ref.png", buffer.getvalue(), content_type="image/png")


def _ready_take(creator, project, shot, *, tier) -> Take:
    hero = character_create(project=project, name="Mei")
    character_image_add(character=hero, upload=_png())
    shot_update(shot=shot, characters=[hero])
    take = shot_take_request(user=creator, shot=shot, tier=tier)
    take_run_and_evaluate(take.pk)
    take.refresh_from_db()
    assert take.state == "ready", take.failure_reason
    return take


@pytest.fixture
def final_take(catalog, creator, project, shot):
    # Only the local animatic renders without a vendor here, and it renders drafts: the test
    # promotes one to the final tier (the render-final flow is not under test).
    take = _ready_take(creator, project, shot, tier=Take.Tier.DRAFT)
    Take.objects.filter(pk=take.pk).update(tier=Take.Tier.FINAL)
    take.refresh_from_db()
    return take_approve(take=take)


@pytest.fixture
def draft_take(catalog, creator, project, shot):
    return _ready_take(creator, project, shot, tier=Take.Tier.DRAFT)


def _local_copy(take, tmp_path):
    path = tmp_path / "take.mp4"
    with take.video.open("rb") as handle:
        path.write_bytes(handle.read())
    return path


# -- the record -----------------------------------------------------------------------------


def test_the_record_names_everything_that_made_the_take(final_take):
    take = Take.objects.select_related("provider_model", "provider_price").get(pk=final_take.pk)
    record = take_provenance(take)
    json.dumps(record)  # serialisable as is
    assert record["take"]["id"] == str(take.public_id) and record["take"]["tier"] == "final"
    assert record["provider"]["slug"] == take.provider_model.slug
    assert record["provider"]["model_id"] == take.provider_model.model_id
    assert record["prompt"] == {"compiled": take.compiled_prompt, "compiler_version": take.compiler_version}
    assert record["seed"] == take.seed
    assert record["route_plan"] == take.route_plan and record["route_plan"]
    assert record["price"]["id"] == take.provider_price_id
    assert record["price"]["valid_from"] == take.provider_price.valid_from.isoformat()
    assert record["costs"] == {"price_credits": take.price_credits, "provider_cost_usd_micros": take.provider_cost_usd_micros}
    assert record["scores"] == take.evaluation and record["scores"]["passed"] is True
    assert record["review"] == "approved"
    assert [a["state"] for a in record["attempts"]] == list(take.attempts.values_list("state", flat=True))


def test_inputs_are_hashed_from_storage(final_take):
    (name,) = final_take.request["reference_image_names"]
    with default_storage.open(name, "rb") as handle:
        expected = hashlib.sha256(handle.read()).hexdigest()
    assert take_provenance(final_take)["inputs"] == [{"name": name.rsplit("/", 1)[-1], "sha256": expected}]
    default_storage.delete(name)
    assert take_provenance(final_take)["inputs"][0]["sha256"] is None


# -- C2PA -----------------------------------------------------------------------------------


def test_a_final_exports_as_a_c2pa_signed_mp4_that_verifies_against_the_test_root(final_take, signing_settings, tmp_path):
    source = _local_copy(final_take, tmp_path)
    export = provenance_export(final_take, video_path=source, output_dir=tmp_path / "export")
    assert export.signed and export.video_path != source
    read = c2pa_read(export.video_path, trust_anchors_pem=signing_settings["root_pem"])
    assert read["state"] == "Trusted", read["validation_status"]
    record = read["assertions"][ASSERTION_LABEL]
    assert record["take"]["id"] == str(final_take.public_id) and record["seed"] == final_take.seed
    assert record["output"]["video_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    (label,) = [label for label in read["assertions"] if label.startswith("c2pa.actions")]  # the SDK writes .v2
    actions = read["assertions"][label]["actions"]
    assert actions[0]["action"] == "c2pa.created" and "trainedAlgorithmicMedia" in actions[0]["digitalSourceType"]
    with av.open(str(export.video_path)) as container:  # still a playable video
        assert sum(1 for _ in container.decode(video=0)) > 0
    sidecar = json.loads(export.sidecar_path.read_text())
    assert sidecar["c2pa_signed"] is True and sidecar["take"]["id"] == str(final_take.public_id)


def test_without_the_trust_anchor_the_signature_is_valid_but_untrusted(final_take, signing_settings, tmp_path):
    export = provenance_export(final_take, video_path=_local_copy(final_take, tmp_path), output_dir=tmp_path / "out")
    assert c2pa_read(export.video_path)["state"] == "Valid"


def test_a_tampered_signed_video_is_invalid(final_take, signing_settings, tmp_path):
    export = provenance_export(final_take, video_path=_local_copy(final_take, tmp_path), output_dir=tmp_path / "out")
    data = bytearray(export.video_path.read_bytes())
    mdat = data.index(b"mdat") + 64
    data[mdat] ^= 0xFF
    export.video_path.write_bytes(bytes(data))
    read = c2pa_read(export.video_path, trust_anchors_pem=signing_settings["root_pem"])
    assert read["state"] == "Invalid"


# -- sidecar only ---------------------------------------------------------------------------


def test_without_a_signing_certificate_a_final_exports_a_sidecar_only(final_take, settings, tmp_path):
    settings.C2PA_SIGNING_CERT_PATH = ""
    source = _local_copy(final_take, tmp_path)
    export = provenance_export(final_take, video_path=source, output_dir=tmp_path / "export")
    assert not export.signed and export.video_path == source
    sidecar = json.loads(export.sidecar_path.read_text())
    assert sidecar["c2pa_signed"] is False and sidecar["review"] == "approved"
    assert sidecar["output"]["video_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()


def test_a_broken_certificate_falls_back_to_the_sidecar(final_take, settings, signing_chain, tmp_path):
    settings.C2PA_SIGNING_CERT_PATH = str(signing_chain["cert"])
    settings.C2PA_SIGNING_KEY_PATH = str(tmp_path / "wrong.pem")
    wrong = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "wrong.pem").write_bytes(wrong.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
    export = provenance_export(final_take, video_path=_local_copy(final_take, tmp_path), output_dir=tmp_path / "export")
    assert not export.signed and export.sidecar_path.exists()
    assert not (tmp_path / "export" / f"shotcraft-{final_take.public_id}.mp4").exists()


def test_drafts_are_never_signed(draft_take, signing_settings, tmp_path):
    export = provenance_export(draft_take, video_path=_local_copy(draft_take, tmp_path), output_dir=tmp_path / "export")
    assert not export.signed and json.loads(export.sidecar_path.read_text())["take"]["tier"] == "draft"


def test_export_store_puts_the_signed_video_and_sidecar_beside_the_take(final_take, signing_settings):
    names = take_export_store(final_take)
    prefix = f"takes/final/{final_take.public_id}/export/"
    assert names["video"].startswith(prefix) and names["sidecar"].startswith(prefix)
    with default_storage.open(names["sidecar"], "rb") as handle:
        assert json.load(handle)["c2pa_signed"] is True
    assert default_storage.size(names["video"]) > final_take.video.size


# -- export on approval ---------------------------------------------------------------------


def test_an_approved_final_is_exported_once_with_a_signed_video_and_its_record(final_take, signing_settings):
    take = take_export(take_id=final_take.pk)
    assert take.export_signed and take.exported_at
    assert take.export_video.name.startswith(f"takes/final/{take.public_id}/export/")
    with take.export_record.open("rb") as handle:
        record = json.load(handle)
    assert record["c2pa_signed"] is True and record["review"] == "approved"
    assert take.events.latest("id").detail == "exported as a C2PA-signed video with its provenance record"
    assert take_export(take_id=take.pk) is None  # once


def test_without_signing_the_export_is_the_video_itself_and_the_record(final_take, settings):
    settings.C2PA_SIGNING_CERT_PATH = ""
    take = take_export(take_id=final_take.pk)
    assert not take.export_signed and take.export_video.name == take.video.name
    assert default_storage.exists(take.export_record.name)


def test_approved_drafts_are_not_exported(draft_take):
    take_approve(take=draft_take)
    assert take_export(take_id=draft_take.pk) is None


def test_a_final_rejected_before_its_export_ran_is_not_exported(final_take):
    take_reject(take=final_take)
    assert take_export(take_id=final_take.pk) is None


def test_the_card_and_the_api_offer_the_exported_final(final_take, settings, creator):
    settings.C2PA_SIGNING_CERT_PATH = ""
    card = render_to_string("studio/partials/take_card.html", {"take": final_take})
    assert "Preparing the download with its provenance record" in card
    take = take_export(take_id=final_take.pk)
    card = render_to_string("studio/partials/take_card.html", {"take": take})
    assert f'href="{take.export_record.url}" download>Provenance record</a>' in card
    assert "C2PA signed" not in card
    _, key = api_token_create(user=creator, name="test")
    answer = Client(HTTP_AUTHORIZATION=f"Bearer {key}").get(f"/api/takes/{take.pk}").json()
    assert answer["provenance_record_url"].endswith(take.export_record.url) and answer["export_signed"] is False
