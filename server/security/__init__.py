"""Authentication, authorisation and key handling of the platform API."""
