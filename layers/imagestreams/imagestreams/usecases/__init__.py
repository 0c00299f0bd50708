"""The use cases behind the entry points, one module each.

- :mod:`.start` starts an import (``POST imagestreamimports``): inline within
  the time budget, the rest queued as an import job;
- :mod:`.import_jobs` runs an import job's chunks, records progress and completes it;
- :mod:`.reimport` queues re-imports (schedule, registry pushes) and runs them;
- :mod:`.tagging` tags import results into an ImageStream;
- :mod:`.queries` reads and deletes what imports stored.

Each use case gets exactly the ports it needs (:mod:`.ports`), all required;
the composition root (``imagestreams.bootstrap``) wires them. Nothing here
builds a client.
"""
