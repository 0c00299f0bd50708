"""The benchmark behind DESIGN section 11: ``make bench`` (``python -m bench``).

Everything runs on one machine, without network: a real ``docker-registry``
on loopback holds a repository of ``--tags`` tags (distinct single-platform
images sharing their layers, plus a few multi-arch images), AWS is moto with
the tables and queues of ``template.yaml``, and imports go through the real
handlers (``functions/api/app.py``; ``functions/worker/app.py`` fed from the
queue by ``devserver.queues.drain``). It measures, one module each:

- registry requests per imported tag, by method and kind of path, for a cold
  import and a warm re-import (a new handler process, the same tables, so
  the image cache is warm), on an anonymous registry and on one with token
  auth (the amortized auth) (:mod:`bench.request_counts`);
- the wall time of the repository import, fan-out included, against
  ``skopeo inspect`` run once per tag with the same parallelism, in the same
  run (median of ``--runs``) (:mod:`bench.wall_time`, :mod:`bench.skopeo`);
- single-image import latency through ``python -m devserver`` over HTTP,
  cold and warm cache (:mod:`bench.latency`);
- cold start: importing the api handler module against a bare ``import
  boto3``, each in fresh processes, and what the import time goes to
  (:mod:`bench.cold_start`);
- peak memory (RSS) of the repository import, in a fresh process that also
  holds moto (:mod:`bench.memory`).

:mod:`bench.fixtures` is what they stand on, :mod:`bench.imports` the one
import they time, :mod:`bench.suite` runs them in order and
:mod:`bench.report` writes the figures. The results are printed and written
to ``bench/RESULTS.md`` (``--output``); ``--json`` writes the raw figures.
``--quick`` runs every measurement at a tiny scale (the test suite uses it).
Registries, images and moto come from :mod:`testkit`, never from ``tests/``.
"""
