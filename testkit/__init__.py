"""Development tooling shared by the tests (``tests/``) and the benchmark (``bench/``).

It owns what both put around the product to exercise it on one machine:
real ``docker-registry`` processes on loopback (:mod:`testkit.registry`, with
:mod:`testkit.tokenserver` for token auth), images built and pushed to them
(:mod:`testkit.images`), AWS from moto with the resources of ``template.yaml``
(:mod:`testkit.aws`), the sample events of ``events/`` (:mod:`testkit.events`),
the api handler invoked in-process (:mod:`testkit.api`), a real kubectl
(:mod:`testkit.kubectl`) and a proxy in front of a registry that adds latency,
counts requests and injects faults (:mod:`testkit.proxy`).

It is not product code: nothing in ``layers/`` or ``functions/`` imports it,
and it must not import from ``tests/`` or ``bench/``. Helpers only the tests
use (pytest fixtures, the hostile registry) stay in
``tests/support``.
"""
