"""Which API families this installation can actually call."""

# Each API family lists the environment settings it needs; an empty tuple needs none.
API_FAMILY_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "local_animatic": (),
}


def api_family_configured(api_family: str) -> bool:
    from django.conf import settings

    requirements = API_FAMILY_REQUIREMENTS.get(api_family)
    if requirements is None:
        return False
    return all(getattr(settings, name, None) for name in requirements)
