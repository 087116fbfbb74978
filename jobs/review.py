from django.db import transaction

from jobs.events import take_changed_publish_on_commit
from jobs.models import Take


@transaction.atomic
def take_review_set(*, take_id: int, review: str) -> Take:
    take = Take.objects.select_for_update().get(pk=take_id)
    if take.review == review:
        return take
    take.review = review
    take.save(update_fields=["review", "updated_at"])
    take_changed_publish_on_commit(group=take.notify_group, take_id=take.pk)
    return take
