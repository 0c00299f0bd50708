"""Powertools Logger for the whole package, from one module.

Log lines carry a fixed message and structured fields; never a credential,
token or ``Authorization`` header.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="imagestreams")
