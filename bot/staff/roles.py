"""What a staff member may do."""

from enum import StrEnum


class Role(StrEnum):
    REVIEWER = "reviewer"  # reads intakes, marks them reviewed, adds notes, exports
    ADMIN = "admin"  # also reads the audit log and the completion webhooks and staff alerts given up on
