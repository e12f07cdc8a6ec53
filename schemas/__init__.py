"""The contract every FastHook service shares: Avro records, the topic catalog and ids.

This package imports no other FastHook package.
"""
