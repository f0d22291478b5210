"""The object stores of the contract suite (``local`` served over HTTP, ``s3`` on moto), reused here."""

from tests.integration.objects.conftest import clock, local_store, object_store, s3_store

__all__ = ["clock", "local_store", "object_store", "s3_store"]
