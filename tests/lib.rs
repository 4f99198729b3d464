//! Helpers shared by the journey tests.
