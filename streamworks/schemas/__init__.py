"""Avro on the wire: record classes, contracts, the codec, the registry client, compatibility."""

from streamworks.schemas.catalog import Contract, contract, contract_of
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.derive import derive_schema
from streamworks.schemas.errors import (
    DecodeError,
    EncodeError,
    IncompatibleSchemaError,
    InvalidSchemaError,
    KeyDecodeError,
    RegistryError,
    SchemaError,
    ValueDecodeError,
)
from streamworks.schemas.json_codec import JsonRecordCodec
from streamworks.schemas.records import AvroRecord
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec

__all__ = [
    "AvroCodec",
    "AvroRecord",
    "Contract",
    "DecodeError",
    "EncodeError",
    "IncompatibleSchemaError",
    "InvalidSchemaError",
    "JsonRecordCodec",
    "KeyDecodeError",
    "RecordCodec",
    "RegistryClient",
    "RegistryError",
    "SchemaError",
    "ValueDecodeError",
    "contract",
    "contract_of",
    "derive_schema",
]
