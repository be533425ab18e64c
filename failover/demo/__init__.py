"""The demo organisation (data, seeding, its local TLS targets) and the bulk seeding of the
scale benchmark and query-count tests: tooling around the product, never imported by it."""
