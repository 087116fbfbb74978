from django.db import transaction

from jobs.events import take_changed_publish_on_commit
from jobs.models import Generation


@transaction.atomic
def take_review_set(*, take_id: int, review: str) -> Generation:
    take = Generation.objects.select_for_update().get(pk=take_id)
    if take.review == review:
        return take
    take.review = review
    take.save(update_fields=["review", "updated_at"])
    take_changed_publish_on_commit(group=take.notify_group, take_id=take.pk)
    return take
