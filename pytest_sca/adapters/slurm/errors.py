"""Slurm's error numbers → the contract's refusal classes.

slurmrestd 22.05 answers most refusals with HTTP 500 and the Slurm error number in
``errors[].error_number`` (``error_code`` in the submit answer, ``errno`` in some others);
later plugins answer 4xx for some. The number, not the HTTP status, says what happened
(``slurm/slurm_errno.h``), so the adapter classifies by number first.
"""

from __future__ import annotations

from pytest_sca.capabilities import RefusalReason

#: Slurm error number → (the HTTP status a REST platform would answer, refusal class).
#: Numbers not listed are not refusals: the request could not be served (``error``).
REFUSALS: dict[int, tuple[int, RefusalReason]] = {
    2000: (422, RefusalReason.INVALID),      # ESLURM_INVALID_PARTITION_NAME
    2002: (403, RefusalReason.FORBIDDEN),    # ESLURM_ACCESS_DENIED
    2003: (403, RefusalReason.FORBIDDEN),    # ESLURM_JOB_MISSING_REQUIRED_PARTITION_GROUP
    2004: (422, RefusalReason.INVALID),      # ESLURM_REQUESTED_NODES_NOT_IN_PARTITION
    2005: (422, RefusalReason.INVALID),      # ESLURM_TOO_MANY_REQUESTED_CPUS
    2006: (422, RefusalReason.INVALID),      # ESLURM_INVALID_NODE_COUNT
    # "Invalid user id": what slurmctld answers a user acting on another user's job.
    2010: (403, RefusalReason.FORBIDDEN),    # ESLURM_USER_ID_MISSING
    2014: (422, RefusalReason.INVALID),      # ESLURM_REQUESTED_NODE_CONFIG_UNAVAILABLE
    2015: (422, RefusalReason.INVALID),      # ESLURM_REQUESTED_PART_CONFIG_UNAVAILABLE
    2017: (404, RefusalReason.NOT_FOUND),    # ESLURM_INVALID_JOB_ID
    2018: (404, RefusalReason.NOT_FOUND),    # ESLURM_INVALID_NODE_NAME
    2020: (409, RefusalReason.CONFLICT),     # ESLURM_TRANSITION_STATE_NO_UPDATE
    2021: (409, RefusalReason.CONFLICT),     # ESLURM_ALREADY_DONE
    2024: (409, RefusalReason.CONFLICT),     # ESLURM_JOB_PENDING
    2038: (409, RefusalReason.CONFLICT),     # ESLURM_DEPENDENCY
    2039: (422, RefusalReason.INVALID),      # ESLURM_BATCH_ONLY
    2042: (409, RefusalReason.CONFLICT),     # ESLURM_JOB_HELD
    # An account the user has no association with: Slurm accounting's access control.
    2045: (403, RefusalReason.FORBIDDEN),    # ESLURM_INVALID_ACCOUNT
    2050: (429, RefusalReason.QUOTA),        # ESLURM_ACCOUNTING_POLICY
    2051: (422, RefusalReason.INVALID),      # ESLURM_INVALID_TIME_LIMIT
    2052: (403, RefusalReason.FORBIDDEN),    # ESLURM_RESERVATION_ACCESS
    2066: (403, RefusalReason.FORBIDDEN),    # ESLURM_INVALID_QOS
    2070: (409, RefusalReason.CONFLICT),     # ESLURM_PARTITION_NOT_AVAIL
    2072: (422, RefusalReason.INVALID),      # ESLURM_INVALID_GRES
    2073: (409, RefusalReason.CONFLICT),     # ESLURM_JOB_NOT_PENDING
    2074: (429, RefusalReason.QUOTA),        # ESLURM_QOS_THRES
    2078: (409, RefusalReason.CONFLICT),     # ESLURM_CAN_NOT_START_IMMEDIATELY
    2083: (409, RefusalReason.CONFLICT),     # ESLURM_JOB_STARTED
    2084: (409, RefusalReason.CONFLICT),     # ESLURM_JOB_FINISHED
    2085: (409, RefusalReason.CONFLICT),     # ESLURM_JOB_NOT_RUNNING
    2086: (409, RefusalReason.CONFLICT),     # ESLURM_JOB_NOT_PENDING_NOR_RUNNING
    2088: (409, RefusalReason.CONFLICT),     # ESLURM_JOB_NOT_FINISHED
    2101: (409, RefusalReason.CONFLICT),     # ESLURM_PARTITION_DOWN
    2119: (422, RefusalReason.INVALID),      # ESLURM_INVALID_GRES_TYPE
    1007: (401, RefusalReason.UNAUTHENTICATED),  # SLURM_PROTOCOL_AUTHENTICATION_ERROR
    6000: (401, RefusalReason.UNAUTHENTICATED),  # ESLURM_AUTH_CRED_INVALID
    6001: (401, RefusalReason.UNAUTHENTICATED),  # ESLURM_AUTH_EXPIRED
    9003: (404, RefusalReason.NOT_FOUND),    # ESLURM_REST_EMPTY_RESULT
    9008: (401, RefusalReason.UNAUTHENTICATED),  # ESLURM_REST_AUTH_FAIL
}

#: Error texts of clients (sacctmgr, scontrol) → the error number they print the text of.
MESSAGES: dict[str, int] = {
    "access/permission denied": 2002,
    "invalid user id": 2010,
    "invalid job id specified": 2017,
    "job/step already completing or completed": 2021,
    "invalid account or account/partition combination specified": 2045,
    "job violates accounting/qos policy": 2050,
    "requested node configuration is not available": 2014,
    "invalid generic resource (gres) specification": 2072,
    "invalid qos specification": 2066,
    "protocol authentication error": 1007,
    "job is pending execution": 2024,
    "job has already finished": 2084,
    "job is no longer pending execution": 2073,
    "nothing found": 9003,
}


def number_in(text: str) -> int | None:
    """The Slurm error number whose message ``text`` carries (a client's stderr), if any."""
    lowered = text.lower()
    return next((number for message, number in MESSAGES.items() if message in lowered), None)
