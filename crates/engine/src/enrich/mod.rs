//! Enrichment: what is learned about a record or a peer from outside its own packets, as a
//! stage of its own between the flow table and the analyses.
//!
//! - `records`: each finished flow's server name (the DNS answers seen so far, then hosts
//!   files) and its role from the sensor's addresses, applied by the pipeline in output order.
//! - then, on the analysis's peers, the opt-in lookups in order: [`Ptr`] (reverse DNS for the
//!   peers the capture did not name, `--resolve-ptr`: the one stage that sends packets) and
//!   [`Geo`] (organisation, ASN and country from MaxMind-format databases).
//!
//! A new peer enrichment (say, an RDAP lookup) is one more [`PeerEnricher`] given to the
//! analysis's settings; nothing else changes.

pub mod geo;
pub mod ptr;
pub(crate) mod records;

use crate::analyze::peers::{org_of, Peer, PeerName};

/// A lookup that completes the analysis's peers after the traffic is read. Errors are
/// reported and the analysis goes on without the lookup.
pub trait PeerEnricher: Send + Sync + std::fmt::Debug {
    /// Fills in what it knows about `peers`.
    fn enrich(&self, peers: &mut [Peer]) -> Result<(), String>;
}

/// Reverse DNS for the peers the capture left unnamed (their names get source `ptr`).
#[derive(Debug, Clone)]
pub struct Ptr {
    /// Resolver asked.
    pub server: std::net::SocketAddr,
    /// Overall deadline.
    pub timeout: std::time::Duration,
}

impl PeerEnricher for Ptr {
    fn enrich(&self, peers: &mut [Peer]) -> Result<(), String> {
        let mut unnamed: Vec<std::net::IpAddr> =
            peers.iter().filter(|p| p.names.is_empty()).map(|p| p.addr.to_ip()).collect();
        unnamed.sort();
        unnamed.dedup();
        let names = ptr::resolve(&unnamed, self.server, self.timeout).map_err(|e| format!("--resolve-ptr: {e}"))?;
        for p in peers.iter_mut().filter(|p| p.names.is_empty()) {
            if let Some(n) = names.get(&p.addr.to_ip()) {
                p.names.push(PeerName { name: n.clone(), source: "ptr", flows: 0 });
                p.org = p.org.clone().or_else(|| org_of(n).map(str::to_string));
            }
        }
        Ok(())
    }
}

/// Organisation, ASN and country of every peer from the databases; the database's
/// organisation replaces the one guessed from the peer's name.
#[derive(Debug)]
pub struct Geo(pub std::sync::Mutex<geo::GeoDb>);

impl PeerEnricher for Geo {
    fn enrich(&self, peers: &mut [Peer]) -> Result<(), String> {
        // The database caches answers per network, hence the lock.
        let mut db = self.0.lock().map_err(|_| "--asn-db/--geo-db: lookup failed earlier".to_string())?;
        for p in peers {
            let o = db.lookup(&p.addr);
            p.asn = o.asn;
            p.country = o.country;
            if o.org.is_some() {
                p.org = o.org;
            }
        }
        Ok(())
    }
}
