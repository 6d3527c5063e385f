//! Unit tests of the request mapping; the golden and oracle tests are in tests/it.
