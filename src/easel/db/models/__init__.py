"""SQLAlchemy models, one module per aggregate. Importing this registers them all."""

from easel.db.models.accounts import ApiKey, Membership, Organization, User
from easel.db.models.base import Base
from easel.db.models.billing import CreditLedgerEntry, CreditReservation
from easel.db.models.jobs import Job
from easel.db.models.requests import RequestLogEntry

__all__ = [
    "ApiKey",
    "Base",
    "CreditLedgerEntry",
    "CreditReservation",
    "Job",
    "Membership",
    "Organization",
    "RequestLogEntry",
    "User",
]
