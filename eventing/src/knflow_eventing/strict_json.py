"""JSON as knflow stores it: defined in the SDK (``knflow.strict_json``), whose REST request bodies use it
too; re-exported here for the codecs."""

from knflow.strict_json import MAX_DEPTH, JsonRefused, check, loads

__all__ = ["MAX_DEPTH", "JsonRefused", "check", "loads"]
