"""Privacy engine: retention per data class, data-subject requests, key rotation, camera purposes, audit checks."""
