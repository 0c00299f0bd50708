"""Importing images: an ImageStreamImport spec in, per-image statuses out.

- :mod:`.plan`: which targets a spec names, with the deployment's defaults;
- :mod:`.session`: the registry work of one request, deduplicated, with the
  image cache as that request may use it;
- :mod:`.importer`: the run: resolve, look up, fetch, convert, present;
- :mod:`.statuses`: registry errors as the per-image ``Status`` OpenShift reports.

It persists nothing but cache entries and does not know where credentials
come from (a :class:`~imagestreams.credentials.Keyring` is passed in) nor
which registry client speaks to registries (a :class:`.session.Registry`).
"""
