"""Group membership through DescribeGroups v1/v2, working around an aiokafka 0.14 bug.

``AIOKafkaAdminClient.describe_consumer_groups`` negotiates v3 with current brokers but
decodes the answer with the v2 layout, so the connection fails ("Buffer underrun decoding
string"). Offering only v1 and v2 (the same members, no authorized operations) avoids it;
remove this module once aiokafka decodes v3 correctly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import DescribeGroupsRequest_v1, DescribeGroupsRequest_v2
from aiokafka.protocol.api import Request

__all__ = ["group_members"]

_NO_ERROR = 0


class _DescribeGroups(Request[DescribeGroupsRequest_v1 | DescribeGroupsRequest_v2]):  # type: ignore[misc]  # aiokafka is untyped
    API_KEY = 15

    def __init__(self, groups: list[str]) -> None:
        self._groups = groups

    def build(
        self, request_struct_class: type[DescribeGroupsRequest_v1 | DescribeGroupsRequest_v2]
    ) -> DescribeGroupsRequest_v1 | DescribeGroupsRequest_v2:
        return request_struct_class(self._groups)


async def group_members(admin: AIOKafkaAdminClient, groups: Iterable[str]) -> dict[str, int]:
    """Members of each group (0 for an empty, dead or unknown group)."""
    found = dict.fromkeys(sorted(set(groups)), 0)
    by_coordinator: dict[int, list[str]] = defaultdict(list)
    for group in found:
        by_coordinator[await admin.find_coordinator(group)].append(group)
    for node, wanted in by_coordinator.items():
        # the admin client has no public way to send a request of our own making
        response = await admin._send_request(_DescribeGroups(wanted), node)
        for error_code, group, _state, _ptype, _protocol, members, *_ in response.groups:
            if error_code == _NO_ERROR and group in found:
                found[group] = len(members)
    return found
