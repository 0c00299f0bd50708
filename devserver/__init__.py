"""Local development server: the real handlers behind a local API Gateway.

``python -m devserver`` reads ``template.yaml`` the way SAM does (functions'
``CodeUri`` and ``Handler``, their API events, the API's gateway responses),
creates the template's tables and queues in an in-process moto, serves
the API on loopback by turning each HTTP request into an API Gateway REST
proxy event, and delivers queued messages to the functions that consume
them as SQS events.

Modules:

- :mod:`devserver.template` reads the template (CloudFormation short-form
  tags, ``Globals``, intrinsic functions);
- :mod:`devserver.resources` creates its DynamoDB tables and SQS queues and
  resolves the functions' environment;
- :mod:`devserver.gateway` is the pure API Gateway emulation (routing,
  events, responses, the Lambda context);
- :mod:`devserver.server` is the HTTP front and the function runtime;
- :mod:`devserver.queues` is Lambda's SQS event source: it feeds queued
  messages to the functions with SQS events, in the background or, for
  tests, synchronously (``drain``);
- :mod:`devserver.environment` gives each function its own environment
  variables and composition root inside the one process.

Nothing here is part of the deployed service, and nothing here is imported
by it.
"""
