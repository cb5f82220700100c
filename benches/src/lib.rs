//! Benchmarks only: see `benches/*.rs`. This library is empty on purpose.
#![forbid(unsafe_code)]
