"""Errors of the event contract, under the one root every FastHook package derives from."""


class FastHookError(Exception):
    """Root of every error FastHook raises on purpose."""


class SchemaError(FastHookError):
    """A record could not be encoded or decoded under the contract."""


class NotSingleObjectEncoded(SchemaError):
    """The bytes do not start with the Avro single-object marker."""


class UnknownSchemaError(SchemaError):
    """The writer schema's fingerprint is not one this process knows."""

    def __init__(self, fingerprint: bytes) -> None:
        self.fingerprint = fingerprint
        super().__init__(
            f"unknown writer schema fingerprint {fingerprint.hex()}: the record was written by a "
            "newer or foreign producer; register its schema before reading it"
        )


class UnknownRecordError(SchemaError):
    """A record name that has no schema in the contract."""


class RecordEncodeError(SchemaError):
    """A record does not match its schema."""


class RecordDecodeError(SchemaError):
    """The payload after a known fingerprint is not a valid record of that schema."""
