"""Claims are Redis locks released by their own token: a process whose claim ran out can never
free the claim another process took since."""

import time
import uuid

from jobs.claims import work_claim_held, work_claimed


def test_a_claim_is_held_while_the_work_runs_and_given_back_after():
    key = f"test-{uuid.uuid4()}"
    with work_claimed(key, seconds=5) as mine:
        assert mine and work_claim_held(key)
        with work_claimed(key, seconds=5) as theirs:
            assert not theirs
    assert not work_claim_held(key)


def test_a_claim_that_ran_out_does_not_free_the_next_holders():
    key = f"test-{uuid.uuid4()}"
    slow, next_one = work_claimed(key, seconds=1), work_claimed(key, seconds=30)
    assert slow.__enter__()
    time.sleep(1.2)  # the first holder was too slow: its claim expired…
    assert next_one.__enter__()  # …and another process took the work
    slow.__exit__(None, None, None)  # the slow one finishes and lets go of what it held
    assert work_claim_held(key)  # the other process's claim is still there
    next_one.__exit__(None, None, None)
    assert not work_claim_held(key)
