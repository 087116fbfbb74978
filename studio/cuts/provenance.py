"""Where a cut came from: a record listing every take in it (with each take's own provenance
record), always written as a sidecar JSON, and embedded as a C2PA manifest whose ingredients are
the takes' files when a signing certificate is configured (see jobs.provenance)."""

import hashlib
import json
import logging
from pathlib import Path

from jobs.models import Take
from jobs.provenance import GENERATOR_NAME, c2pa_signer, take_provenance

logger = logging.getLogger(__name__)

RECORD_SCHEMA = "shotcraft.cut-provenance/1"
ASSERTION_LABEL = "com.shotcraft.cut"
COMPOSITE_WITH_AI = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"


def cut_record(*, inputs: dict, inputs_hash: str, video_sha256: str) -> dict:
    takes = {str(take.public_id): take for take in Take.objects.select_related("provider_model", "provider_price")
             .filter(public_id__in=[clip["take"] for clip in inputs["clips"]])}
    return {
        "schema": RECORD_SCHEMA, "generator": GENERATOR_NAME, "inputs_hash": inputs_hash,
        "output": {"video_sha256": video_sha256, **inputs["format"]},
        "ingredients": [{
            "take_id": clip["take"], "shot": clip["title"], "tier": clip["take_tier"], "sha256": clip["sha256"],
            "in_ms": clip["in_ms"], "out_ms": clip["out_ms"], "transition": clip["transition"],
            "voice_over": clip["line"], "upscale_take_id": clip.get("upscale"),
            "provenance": take_provenance(takes[clip["take"]]) if clip["take"] in takes else None,
        } for clip in inputs["clips"]],
        "sound": {"music": inputs["music"]["kind"], "voice": "local eSpeak NG", "loudness_lufs": inputs["loudness_lufs"]},
    }


def cut_provenance_write(*, video: Path, inputs: dict, inputs_hash: str, media: dict[str, Path],
                         output_dir: Path) -> tuple[Path, Path, bool]:
    """(video to store, sidecar, signed): the video is a C2PA-signed copy when a signer is configured."""
    record = cut_record(inputs=inputs, inputs_hash=inputs_hash, video_sha256=_sha256(video))
    signed_video, signed = video, False
    signer = c2pa_signer()
    if signer is not None:
        target = output_dir / f"signed-{video.name}"
        try:
            _sign(video, target, record=record, signer=signer, ingredients=[
                (clip["title"], media[clip["video"]]) for clip in inputs["clips"]])
            signed_video, signed = target, True
        except Exception:  # a bad certificate must not lose the cut: the sidecar keeps the record
            logger.exception("C2PA signing of cut %s failed; the sidecar carries its record", inputs_hash[:12])
            target.unlink(missing_ok=True)
        finally:
            signer.close()
    sidecar = output_dir / f"cut-{inputs_hash[:12]}.provenance.json"
    sidecar.write_text(json.dumps({**record, "c2pa_signed": signed}, indent=2, sort_keys=True))
    return signed_video, sidecar, signed


def _sign(source: Path, target: Path, *, record: dict, signer, ingredients: list[tuple[str, Path]]) -> None:
    from c2pa import Builder, Context

    manifest = {
        "claim_generator_info": [{"name": GENERATOR_NAME, "version": "1"}],
        "title": target.name, "format": "video/mp4",
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [
                {"action": "c2pa.created", "digitalSourceType": COMPOSITE_WITH_AI, "softwareAgent": {"name": GENERATOR_NAME}},
            ]}},
            {"label": ASSERTION_LABEL, "data": record},
        ],
    }
    context = Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    builder = Builder(manifest, context=context)
    try:
        for title, path in ingredients:
            with path.open("rb") as stream:
                builder.add_ingredient({"title": f"{title}.mp4", "relationship": "componentOf"}, "video/mp4", stream)
        with source.open("rb") as src, target.open("w+b") as dst:
            builder.sign(signer, "video/mp4", src, dst)
    finally:
        builder.close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()
