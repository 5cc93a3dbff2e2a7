"""The Avro contracts of streamworks: one ``<topic>.avsc`` file per record type.

A file is named after the topic its records travel on (``orders.raw.avsc`` for ``orders.raw``);
its subject in the registry is ``<topic>-value``. Load them with :mod:`schemas.catalog`.
"""
