"""What agents searched for and thought of the answers: redacted before it is stored (`redact`),
kept in SQLite or PostgreSQL (`store` on top of `database` and its `migrations`), read back for
trainers (`report`, `insights`) and exported safely (`csvsafe`)."""
