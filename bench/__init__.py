"""The benchmark behind DESIGN section 11: ``make bench`` (``python -m bench``).

Everything runs on one machine: a real ``docker-registry`` on loopback holds
a repository of ``--tags`` tags (distinct single-platform images sharing
their layers, plus a few multi-arch images), AWS is moto with the tables and
queues of ``template.yaml``, and imports go through the real handlers
(``functions/api/app.py``; ``functions/worker/app.py`` fed from the queue by
``devserver.consumers.drain``, up to the template's ``MaximumConcurrency``
at once). It measures, one module each:

- registry requests per imported tag, by method and kind of path, for a cold
  import and a warm re-import (a new handler process, the same tables, so
  the image cache is warm), on an anonymous registry and on one with token
  auth (the amortized auth) (:mod:`bench.request_counts`);
- the wall time of the repository import on loopback, fan-out included,
  against ``skopeo inspect`` run once per tag with the same parallelism, in
  the same run (median of ``--runs``) (:mod:`bench.wall_time`,
  :mod:`bench.skopeo`);
- the same across a network: every request through a latency proxy
  (``--delay``, 50 ms), against ``skopeo inspect`` x8 through the same
  proxy, cold, warm and with a forced fan-out; and the concurrency curve,
  cold imports at 0, 20, 50 and 100 ms with several ``IMPORT_PARALLELISM``
  (:mod:`bench.network`); a failing target is run again with every thread
  sampled, for its reason (:mod:`bench.diagnosis`);
- the size of a 1,000-tag answer of realistic images, raw and gzip'd,
  against Lambda's 6 MB response limit (:mod:`bench.answer_size`);
- single-image import latency through ``python -m devserver`` over HTTP,
  the first request after start, cold and warm cache (:mod:`bench.latency`);
- cold start: importing the api handler module against a bare ``import
  boto3``, each in fresh processes, and what the import time goes to
  (:mod:`bench.cold_start`);
- peak memory (RSS) of the repository import, in a fresh process that also
  holds moto (:mod:`bench.memory`);
- a newcomer's first ``make run`` on a fresh clone: the time to the first
  answer, and that it installed no development tool (:mod:`bench.fresh_clone`;
  it installs from the package index, ``--no-fresh-clone`` skips it).

:mod:`bench.fixtures` is what they stand on, :mod:`bench.imports` the one
import they time, :mod:`bench.suite` runs them in order, :mod:`bench.targets`
holds them to their targets and :mod:`bench.report` (with
:mod:`bench.report_network`) writes the figures. The results are printed and
written to ``bench/RESULTS.md`` (``--output``); ``--json`` writes the raw
figures. ``--quick`` runs every measurement at a tiny scale (the test suite
uses it). Registries, images, the proxy and moto come from :mod:`testkit`,
never from ``tests/``.
"""
