//! The end-to-end harness: starts the real binaries and servers the suites use.
