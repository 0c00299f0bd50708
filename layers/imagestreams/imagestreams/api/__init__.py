"""The HTTP edge of the API: request decoding and validation, grants, webhooks, answers.

The only part of the package that knows HTTP (Powertools ``Response``);
the use cases behind it take and return domain objects.
"""
