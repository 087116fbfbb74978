"""What open studio pages receive when a take changes: its card, rendered once for everyone watching.

jobs.events publishes a take change after commit and calls `take_changed_messages` (named in
settings.LIVE_TAKE_RENDERER) on a background thread; each message goes to a Channels group whose
members the consumer already authorised when they joined (studio.consumers). The consumer only
forwards the HTML, so a change costs one render however many pages are open.
"""

from django.template.loader import render_to_string

from studio.selectors import storyboard_shot, take_for_card

LIVE_HTML = "live.html"


def take_changed_messages(take_id: int) -> list[tuple[str, dict]]:
    """The owner's pages of the take's project get its card and its storyboard card, as out-of-band swaps."""
    take = take_for_card(take_id=take_id)
    if take is None:
        return []
    shot = storyboard_shot(shot_id=take.shot_id)  # with its take counts: "Rendering · 40%" on the storyboard
    html = render_to_string("studio/live/take_changed.html", {"take": take, "shot": shot})
    return [(take.shot.project.notify_group, {"type": LIVE_HTML, "html": html})]
