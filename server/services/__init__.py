"""Business logic of the platform API, one small module per area; no FastAPI here."""
