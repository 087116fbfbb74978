"""Production runs: a storyboard driven through draft rounds → selection → escalation → final.

lifecycle.py starts a run and holds the creator's controls; advance.py moves it on (each step
idempotent); transitions.py is the only writer of states; forecast.py prices it beforehand;
progress.py says where it stands (spent vs forecast, per-shot progress).
"""
