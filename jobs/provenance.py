"""Where a take came from, as a record, and the export of finals with that record attached.

The record names the provider and model, the compiled prompt and compiler version, the seed,
hashes of the reference images, the routing plan, the price version, costs, scores and the
review decision. A final exports as a C2PA-signed MP4 when a signing certificate is configured
(C2PA_SIGNING_CERT_PATH and C2PA_SIGNING_KEY_PATH) and c2pa-python is installed; the record is
always written beside the video as a sidecar JSON too.
"""

import hashlib
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from jobs.models import Take

logger = logging.getLogger(__name__)

RECORD_SCHEMA = "shotcraft.provenance/1"
ASSERTION_LABEL = "com.shotcraft.provenance"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
GENERATOR_NAME = "Shotcraft"


@dataclass(frozen=True)
class ProvenanceExport:
    video_path: Path  # the signed copy when signed, else the original
    sidecar_path: Path
    signed: bool


# -- the record -----------------------------------------------------------------------------


def take_provenance(take: Take, *, video_sha256: str | None = None) -> dict:
    """The provenance record of one take, JSON-serialisable."""
    model, price = take.provider_model, take.provider_price
    return {
        "schema": RECORD_SCHEMA,
        "take": {"id": str(take.public_id), "tier": take.tier, "state": take.state, "sandbox": take.sandbox,
                 "created_at": _iso(take.created_at), "finished_at": _iso(take.finished_at)},
        "provider": model and {"slug": model.slug, "vendor": model.vendor, "name": model.name,
                               "api_family": model.api_family, "model_id": model.model_id,
                               "job_id": take.provider_job_id},
        "prompt": {"compiled": take.compiled_prompt, "compiler_version": take.compiler_version},
        "seed": take.seed,
        "shape": {"duration_seconds": take.duration_seconds, "aspect_ratio": take.aspect_ratio},
        "inputs": [reference_hash(name) for name in take.request.get("reference_image_names", [])],
        "route_plan": take.route_plan,
        "price": price and {"id": price.pk, "valid_from": price.valid_from.isoformat(),
                            "usd_micros_per_second": price.usd_micros_per_second,
                            "resolution": price.resolution, "with_audio": price.with_audio},
        "costs": {"price_credits": take.price_credits, "provider_cost_usd_micros": take.provider_cost_usd_micros},
        "scores": take.evaluation,
        "review": take.review,
        "attempts": [{"number": a.number, "provider": a.provider_model.slug, "state": a.state, "error_kind": a.error_kind}
                     for a in take.attempts.select_related("provider_model").order_by("number")],
        "output": {"video_sha256": video_sha256} if video_sha256 else None,
    }


def reference_hash(storage_name: str) -> dict:
    """A reference image by file name and SHA-256 (None when the file is gone)."""
    try:
        with default_storage.open(storage_name, "rb") as handle:
            digest = _sha256(handle)
    except (FileNotFoundError, OSError):
        digest = None
    return {"name": Path(storage_name).name, "sha256": digest}


def _sha256(handle) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(1024 * 1024), b""):
        digest.update(chunk)
    return digest.hexdigest()


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


# -- the export -----------------------------------------------------------------------------


def provenance_export(take: Take, *, video_path: Path, output_dir: Path) -> ProvenanceExport:
    """Write the sidecar JSON and, for a final with a signer configured, a C2PA-signed MP4."""
    output_dir.mkdir(parents=True, exist_ok=True)
    stem = f"shotcraft-{take.public_id}"
    with video_path.open("rb") as handle:
        record = take_provenance(take, video_sha256=_sha256(handle))
    exported, signed = video_path, False
    signer = c2pa_signer() if take.tier == Take.Tier.FINAL and _is_mp4(video_path) else None
    if signer is not None:
        target = output_dir / f"{stem}.mp4"
        try:
            c2pa_sign_mp4(video_path, target, record=record, signer=signer)
            exported, signed = target, True
        except Exception:  # a bad certificate must not lose the export: the sidecar still carries the record
            logger.exception("C2PA signing failed for take %s; exporting the sidecar only", take.public_id)
            target.unlink(missing_ok=True)
        finally:
            signer.close()
    sidecar = output_dir / f"{stem}.provenance.json"
    sidecar.write_text(json.dumps({**record, "c2pa_signed": signed}, indent=2, sort_keys=True))
    return ProvenanceExport(video_path=exported, sidecar_path=sidecar, signed=signed)


def take_export_store(take: Take) -> dict[str, str]:
    """Export a stored take and store the results beside it: {"video": name, "sidecar": name}."""
    with tempfile.TemporaryDirectory(prefix=f"export-{take.pk}-") as workdir:
        source = Path(workdir) / "take.mp4"
        with take.video.open("rb") as stored, source.open("wb") as sink:
            for chunk in iter(lambda: stored.read(1024 * 1024), b""):
                sink.write(chunk)
        result = provenance_export(take, video_path=source, output_dir=Path(workdir) / "export")
        prefix = f"takes/{take.tier}/{take.public_id}/export"
        names = {"sidecar": _store(result.sidecar_path, f"{prefix}/{result.sidecar_path.name}")}
        names["video"] = _store(result.video_path, f"{prefix}/{result.video_path.name}") if result.signed else take.video.name
    return names


def _store(path: Path, name: str) -> str:
    with path.open("rb") as handle:
        return default_storage.save(name, File(handle))


def _is_mp4(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(8)[4:8] == b"ftyp"


# -- C2PA -----------------------------------------------------------------------------------


def c2pa_signer():
    """A c2pa Signer from C2PA_SIGNING_CERT_PATH (leaf + intermediates, PEM) and C2PA_SIGNING_KEY_PATH.

    None when either is unset or c2pa-python is not installed: the export is then sidecar-only.
    """
    cert_path = getattr(settings, "C2PA_SIGNING_CERT_PATH", "")
    key_path = getattr(settings, "C2PA_SIGNING_KEY_PATH", "")
    if not cert_path or not key_path:
        return None
    try:
        from c2pa import C2paSignerInfo, Signer
    except ImportError:
        logger.warning("C2PA signing is configured but c2pa-python is not installed")
        return None
    cert_pem, key_pem = Path(cert_path).read_bytes(), Path(key_path).read_bytes()  # bytes: c2pa refuses str
    algorithm = getattr(settings, "C2PA_SIGNING_ALG", "") or signing_algorithm_for(key_pem)
    info = C2paSignerInfo(alg=algorithm, sign_cert=cert_pem, private_key=key_pem,
                          ta_url=getattr(settings, "C2PA_TIMESTAMP_URL", None) or None)
    return Signer.from_info(info)


def signing_algorithm_for(key_pem: bytes) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(key_pem, password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: "es256", 384: "es384", 521: "es512"}[key.curve.key_size]
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise ValueError(f"C2PA cannot sign with a {type(key).__name__}")


def c2pa_manifest(record: dict, *, title: str) -> dict:
    actions = [{"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                "softwareAgent": {"name": GENERATOR_NAME}}]
    return {
        "claim_generator_info": [{"name": GENERATOR_NAME, "version": "1"}],
        "title": title, "format": "video/mp4",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}},
                       {"label": ASSERTION_LABEL, "data": record}],
    }


def c2pa_sign_mp4(source: Path, target: Path, *, record: dict, signer) -> None:
    from c2pa import Builder, Context

    context = Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    builder = Builder(c2pa_manifest(record, title=target.name), context=context)
    try:
        with source.open("rb") as src, target.open("w+b") as dst:
            builder.sign(signer, "video/mp4", src, dst)
    finally:
        builder.close()


def c2pa_read(path: Path, *, trust_anchors_pem: str | None = None) -> dict:
    """The validation state and the active manifest's assertions by label, for checks and support."""
    from c2pa import Context, Reader

    options = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if trust_anchors_pem:
        options["trust"] = {"user_anchors": trust_anchors_pem}
    with path.open("rb") as handle:
        reader = Reader("video/mp4", handle, context=Context.from_dict(options))
        try:
            store = json.loads(reader.json())
            state = reader.get_validation_state()
        finally:
            reader.close()
    active = store["manifests"][store["active_manifest"]]
    return {"state": state, "assertions": {item["label"]: item.get("data") for item in active["assertions"]},
            "validation_status": store.get("validation_status", [])}
