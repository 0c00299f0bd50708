"""Local development server: the real handlers behind a local API Gateway.

``python -m devserver`` reads ``template.yaml`` the way SAM does (functions'
``CodeUri`` and ``Handler``, their API events, the API's authorizers and
gateway responses), creates the template's tables, queues and secrets in an
in-process moto, serves the API on loopback by turning each HTTP request
into an API Gateway REST proxy event (after the route's token authorizer
let it through), and delivers queued messages to the functions that consume
them as SQS events. EventBridge is emulated on demand: local-only routes run
the schedules now and deliver posted events to the rules they match.

Modules:

- :mod:`devserver.template` reads the template (CloudFormation short-form
  tags, ``Globals``, intrinsic functions);
- :mod:`devserver.resources` creates its DynamoDB tables, SQS queues and
  Secrets Manager secrets and resolves the functions' environment;
- :mod:`devserver.seed` stores the dev API tokens (hashed) and any local
  pull secrets;
- :mod:`devserver.gateway` is the pure API Gateway emulation (routing,
  events, responses, authorizer events and policy evaluation, the Lambda
  context);
- :mod:`devserver.server` is the HTTP front, the function runtime and the
  token authorizer with its cache;
- :mod:`devserver.queues` is Lambda's SQS event source for one batch: the
  event a function gets and how its answer settles the records;
- :mod:`devserver.consumers` is its pollers: they feed queued messages to
  the functions with SQS events, up to each event's ``MaximumConcurrency``
  at once, in the background or, for tests and the benchmark, until the
  queue is empty (``drain``);
- :mod:`devserver.environment` gives each function its own settings, and
  each of its execution environments a composition root and a handler
  module of its own, inside the one process;
- :mod:`devserver.triggers` is EventBridge's side: ``POST /_local/schedule``
  and ``POST /_local/events`` invoke the functions with schedule and rule
  events, with pattern matching for the rules.

Nothing here is part of the deployed service, and nothing here is imported
by it.
"""
