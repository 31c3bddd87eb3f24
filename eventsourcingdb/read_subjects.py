"""`ReadSubjectsOptions` under the official SDK 2.2.4's module path; see
`eventsourcingdb.options`."""

from eventsourcingdb.options import ReadSubjectsOptions

__all__ = ["ReadSubjectsOptions"]
