//! Per-client rate limits (GCRA, the algorithm behind `governor`): each client may make
//! `burst` requests at once, then one per `period / burst`.
//!
//! Clients are keyed by IP address; IPv6 addresses by their /64 prefix, since one host
//! usually holds a whole /64 and could otherwise rotate through it. The table is bounded:
//! when it is full, idle clients are dropped first; if every tracked client is still
//! active, a new client is refused (fail closed) rather than letting memory grow.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most clients tracked at once by one limiter.
pub const MAX_TRACKED_CLIENTS: usize = 100_000;

/// How many requests a client may make per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rate {
    /// Requests allowed at once, and per period.
    pub burst: u32,
    /// The period over which `burst` requests are replenished.
    pub period: Duration,
}

/// A keyed limiter.
#[derive(Debug)]
pub(crate) struct Limiter {
    /// Time between two replenished requests.
    interval: Duration,
    /// How far ahead of now a client's theoretical arrival time may run.
    tolerance: Duration,
    max_clients: usize,
    clients: Mutex<HashMap<IpAddr, Instant>>,
}

impl Limiter {
    pub(crate) fn new(rate: Rate, max_clients: usize) -> Limiter {
        let burst = rate.burst.max(1);
        let interval = rate.period / burst;
        Limiter {
            interval,
            tolerance: interval.saturating_mul(burst - 1),
            max_clients,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `client` at `now`: `Ok` if allowed, else how long to wait.
    pub(crate) fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let key = bucket_key(client);
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !clients.contains_key(&key) && clients.len() >= self.max_clients {
            // Drop the idle (fully replenished) clients; refuse if none is idle.
            clients.retain(|_, tat| *tat > now);
            if clients.len() >= self.max_clients {
                return Err(self.interval);
            }
        }
        let tat = clients.get(&key).copied().unwrap_or(now).max(now);
        let ahead = tat.duration_since(now);
        if ahead > self.tolerance {
            return Err(ahead - self.tolerance);
        }
        clients.insert(key, tat + self.interval);
        Ok(())
    }
}

fn bucket_key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                for byte in octets.iter_mut().skip(8) {
                    *byte = 0;
                }
                IpAddr::V6(octets.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    fn limiter(burst: u32, max_clients: usize) -> Limiter {
        Limiter::new(
            Rate {
                burst,
                period: Duration::from_secs(60),
            },
            max_clients,
        )
    }

    #[test]
    fn a_burst_passes_then_one_per_interval() {
        let limiter = limiter(3, 10);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(A, start).is_ok());
        }
        let wait = limiter.check(A, start).unwrap_err();
        assert_eq!(wait, Duration::from_secs(20));
        // Another client is not affected.
        assert!(limiter.check(B, start).is_ok());
        // After one interval, exactly one more.
        let later = start + Duration::from_secs(20);
        assert!(limiter.check(A, later).is_ok());
        assert!(limiter.check(A, later).is_err());
    }

    #[test]
    fn one_ipv6_host_cannot_rotate_through_its_64() {
        let limiter = limiter(1, 10);
        let now = Instant::now();
        assert!(limiter.check("2001:db8::1".parse().unwrap(), now).is_ok());
        assert!(limiter.check("2001:db8::2".parse().unwrap(), now).is_err());
        assert!(
            limiter
                .check("2001:db8:0:1::1".parse().unwrap(), now)
                .is_ok()
        );
        // An IPv4-mapped address shares the IPv4 client's bucket.
        assert!(limiter.check(A, now).is_ok());
        assert!(
            limiter
                .check("::ffff:192.0.2.1".parse().unwrap(), now)
                .is_err()
        );
    }

    #[test]
    fn a_full_table_drops_idle_clients_and_refuses_when_all_are_active() {
        let limiter = limiter(1, 1);
        let now = Instant::now();
        assert!(limiter.check(A, now).is_ok());
        assert!(limiter.check(B, now).is_err());
        // Once A is replenished it is idle, and B takes its place.
        let later = now + Duration::from_secs(61);
        assert!(limiter.check(B, later).is_ok());
    }
}
