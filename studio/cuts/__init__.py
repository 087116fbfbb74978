"""The cut: a project's approved takes assembled into one finished video with sound, and handed
to an editor's timeline (DESIGN.md §8 "Cuts"). Its own app (label "cuts") so it stays apart from
the storyboard: models, services, the renderer, the mix and the timeline exchange live here."""
