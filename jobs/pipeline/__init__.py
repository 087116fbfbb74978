"""The road every take travels, one module per stage, in the order a take passes them.

    request   quote the shot, hold its credits, create the take (queued)         request.py
    submit    route, pass the provider's health gates, send the job              submit.py
              (queued → routing → submitting → generating)
    poll      ask the provider where the job is, or hear its callback            poll.py, callbacks.py
    download  fetch the finished video, store it with its stills                download.py
              (generating → downloading → evaluating)
    evaluate  score the stored video from its frames                             evaluate.py
    settle    ready and charged, or failed and released or refunded             settle.py
              (every ledger call of a take is in settle.py)
    recover   drive takes whose stage went quiet; fail takes that never will    recover.py

Every provider, the local renderers included (providers.local.adapter), answers the same small
interface: submit, status, fetch_output (and cancel, callbacks). So a take rendered on our own
animatic renderer goes through the same stages as one rendered by Runway.

How a take keeps moving, whatever dies:
* The database is the truth. A take's `state` says which stage it needs next
  (jobs.states.STAGE_FOR_STATE) and its `wake_at` says when.
* A stage runs as a Celery task that holds a short *lease* on the take (leases.py): a token
  and a `wake_at` a few seconds ahead, renewed while the stage works. A duplicate delivery
  finds the lease held, or the take moved on, and does nothing.
* Stages send the next stage's task after their transaction commits (enqueue.py, the one
  module that knows task names). If the broker is down the send is only logged: the committed
  `wake_at` brings the take back.
* recover.py, run by beat every few seconds, sends the stage of every take whose `wake_at`
  passed: a poll that never came, a worker killed mid-stage (its lease ran out), a message lost.
  Counters on the take (`recoveries`, `deliveries`) bound how often.

Only jobs.pipeline.transitions changes a take's state; see jobs.states for the table.
"""
