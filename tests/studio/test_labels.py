import pytest

from studio.templatetags.studio_labels import metric_value, words


@pytest.mark.parametrize(("value", "shown"), [
    (0.00291, "0.00291"), (681.6612, "682"), (3, "3"), ({}, "none found"), ({"FACE_FEMALE": 0.81}, "FACE_FEMALE (0.81)"),
    ([], "none found"), (["cut at 1.0 s"], "cut at 1.0 s"), (None, "—"), (True, "yes"),
])
def test_metric_values_read_like_words(value, shown):
    assert metric_value(value) == shown


def test_names_become_words():
    assert words("motion_smoothness") == "Motion smoothness"
