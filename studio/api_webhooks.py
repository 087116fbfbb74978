"""JSON API for creators' webhook endpoints: register, list, change, rotate the secret, remove,
read the delivery log and resend. Each operation parses input and calls one jobs.outbound service."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from jobs.outbound import endpoints as outbound
from jobs.outbound.kinds import EVENT_KINDS
from jobs.outbound.selectors import deliveries_for_endpoint
from studio.auth_tokens import api_token_auth
from studio.schemas import ErrorOut, ValidationErrorOut, _In

webhooks_router = Router(auth=api_token_auth, tags=["webhooks"])
EventKind = Literal[tuple(EVENT_KINDS)]  # type: ignore[valid-type]
ANSWERS = {404: ErrorOut, 422: ValidationErrorOut}


class EndpointIn(_In):
    url: str = Field(max_length=500, description="https URL on a public address (Standard Webhooks signed POSTs)")
    events: list[EventKind] = Field(min_length=1, description="Event kinds to receive")
    description: str = Field("", max_length=200)


class EndpointPatchIn(_In):
    url: str | None = Field(None, max_length=500)
    events: list[EventKind] | None = Field(None, min_length=1)
    description: str | None = Field(None, max_length=200)
    enabled: bool | None = Field(None, description="true enables a disabled endpoint again")


class EndpointOut(Schema):
    id: UUID
    url: str
    events: list[str]
    description: str
    enabled: bool
    disabled_reason: str
    failing_since: datetime | None
    created_at: datetime

    @staticmethod
    def resolve_id(endpoint) -> UUID:
        return endpoint.public_id

    @staticmethod
    def resolve_events(endpoint) -> list[str]:
        return endpoint.event_kinds


class EndpointSecretOut(EndpointOut):
    secret: str = Field(description="whsec_… signing secret: shown this once; store it now")


class AttemptOut(Schema):
    number: int
    status_code: int | None
    error: str
    response_excerpt: str
    duration_ms: int
    created_at: datetime


class DeliveryOut(Schema):
    id: int
    event_id: str = Field(description="The webhook-id header: the same on every attempt")
    event_type: str
    state: str
    attempts: int
    last_status_code: int | None
    last_error: str
    next_attempt_at: datetime
    delivered_at: datetime | None
    attempt_log: list[AttemptOut] = Field(description="Newest first")

    @staticmethod
    def resolve_event_id(delivery) -> str:
        return delivery.event.message_id

    @staticmethod
    def resolve_event_type(delivery) -> str:
        return delivery.event.kind


def _with_secret(created: outbound.EndpointWithSecret):
    """EndpointSecretOut reads the model's secret: answered only right after creation or rotation."""
    return created.endpoint


@webhooks_router.get("/webhooks/endpoints", response=list[EndpointOut])
def endpoint_list(request):
    return request.auth.webhook_endpoints.all()


@webhooks_router.post("/webhooks/endpoints", response={201: EndpointSecretOut, **ANSWERS})
def endpoint_create(request, payload: EndpointIn):
    created = outbound.webhook_endpoint_create(owner=request.auth, url=payload.url, event_kinds=payload.events,
                                               description=payload.description)
    return Status(201, _with_secret(created))


@webhooks_router.patch("/webhooks/endpoints/{uuid:endpoint_id}", response={200: EndpointOut, **ANSWERS})
def endpoint_update(request, endpoint_id: UUID, payload: EndpointPatchIn):
    endpoint = outbound.endpoint_get_for_user(user=request.auth, endpoint_id=endpoint_id)
    return outbound.webhook_endpoint_update(endpoint=endpoint, url=payload.url, event_kinds=payload.events,
                                            description=payload.description, enabled=payload.enabled)


@webhooks_router.post("/webhooks/endpoints/{uuid:endpoint_id}/rotate-secret", response={200: EndpointSecretOut, 404: ErrorOut})
def endpoint_secret_rotate(request, endpoint_id: UUID):
    endpoint = outbound.endpoint_get_for_user(user=request.auth, endpoint_id=endpoint_id)
    return _with_secret(outbound.webhook_endpoint_secret_rotate(endpoint=endpoint))


@webhooks_router.delete("/webhooks/endpoints/{uuid:endpoint_id}", response={204: None, 404: ErrorOut})
def endpoint_delete(request, endpoint_id: UUID):
    outbound.webhook_endpoint_delete(endpoint=outbound.endpoint_get_for_user(user=request.auth, endpoint_id=endpoint_id))
    return Status(204, None)


@webhooks_router.get("/webhooks/endpoints/{uuid:endpoint_id}/deliveries", response={200: list[DeliveryOut], 404: ErrorOut})
@paginate
def endpoint_deliveries(request, endpoint_id: UUID):
    return deliveries_for_endpoint(endpoint=outbound.endpoint_get_for_user(user=request.auth, endpoint_id=endpoint_id))


@webhooks_router.post("/webhooks/deliveries/{int:delivery_id}/resend", response={202: DeliveryOut, 404: ErrorOut, 409: ErrorOut})
def delivery_resend(request, delivery_id: int):
    delivery = outbound.delivery_get_for_user(user=request.auth, delivery_id=delivery_id)
    return Status(202, outbound.webhook_delivery_resend(delivery=delivery))
