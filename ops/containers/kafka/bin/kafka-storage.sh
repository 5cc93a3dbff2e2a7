#!/usr/bin/env bash
# The storage tool (format, info), under the name the apache/kafka image uses.
exec kafka-run-class kafka.tools.StorageTool "$@"
