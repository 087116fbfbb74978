"""The credits history names the shot and take a line was for and links to them, in constant queries."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import shot_for
from tests.studio.test_take_compare import ready_take

pytestmark = pytest.mark.django_db


def test_history_lines_name_and_link_the_shot_and_take_in_constant_queries(catalog, creator, creator_client, project, shot):
    take = ready_take(creator, shot, score=80.0, price=30, defects=[])
    with CaptureQueriesContext(connection) as one:
        html = creator_client.get(reverse("credits")).content.decode()
    link = re.search(r'<a href="([^"]+)" data-ledger-subject>([^<]+)</a>', html)
    assert link.groups() == (f"/shots/{shot.pk}/#take-{take.pk}", f"Shot 1 · Opening, take #{take.pk}")
    assert f"take:{take.public_id}" not in html.split("<table", 1)[1]

    for number in range(3):
        ready_take(creator, shot_for(project, title=f"Shot {number}"), score=70.0, price=30, defects=[])
    with CaptureQueriesContext(connection) as four:
        html = creator_client.get(reverse("credits")).content.decode()
    assert html.count("data-ledger-subject") == 4
    assert len(four) == len(one)
