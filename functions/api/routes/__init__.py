"""The api function's routes: one Powertools router per resource group.

``imports``, ``streams``, ``tags`` (ImageStreamTags and ImageStreamImages),
``discovery`` (with OpenAPI, version and namespace) and ``webhooks`` each own
a router; ``common`` owns the helpers they share. ``app`` includes the
routers and keeps the exception handlers and ``not_found``. Lambda puts the
function's code directory on the path, so this package is imported as the
top-level ``routes``; the dev server and the test kit load ``app.py`` so too.
"""
