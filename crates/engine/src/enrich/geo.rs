//! Organisation (ASN) and country of peers from MaxMind-format databases the user supplies
//! (`--asn-db`, `--geo-db`: GeoLite2/GeoIP2 ASN and Country/City, or any mmdb with the same
//! fields). Each unique address is looked up once; answers are cached by the database's
//! network, so the other addresses of a known prefix cost no tree walk.

use crate::decode::Addr;
use hashbrown::HashMap;
use maxminddb::Reader;
use serde::{Deserialize, Serialize};

/// What the databases say about an address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// Autonomous system organisation.
    pub org: Option<String>,
    /// Country ISO code.
    pub country: Option<String>,
}

#[derive(Deserialize)]
struct AsnRec<'a> {
    autonomous_system_number: Option<u32>,
    #[serde(borrow)]
    autonomous_system_organization: Option<&'a str>,
}

#[derive(Deserialize)]
struct CountryName<'a> {
    #[serde(borrow)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct GeoRec<'a> {
    #[serde(borrow)]
    country: Option<CountryName<'a>>,
    #[serde(borrow)]
    registered_country: Option<CountryName<'a>>,
}

/// A network: IP version, prefix length, masked address bytes.
type NetKey = (u8, u8, [u8; 16]);

/// The databases and the per-network cache.
#[derive(Default)]
pub struct GeoDb {
    asn: Option<Reader<Vec<u8>>>,
    geo: Option<Reader<Vec<u8>>>,
    /// (version, prefix length, masked address) → origin, per database.
    cache: [HashMap<NetKey, Origin>; 2],
    /// Prefix lengths present in each cache (few), to probe before walking the tree.
    lens: [Vec<(u8, u8)>; 2],
    /// Tree walks done (for tests and statistics).
    pub lookups: u64,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb")
            .field("asn", &self.asn.is_some())
            .field("geo", &self.geo.is_some())
            .field("lookups", &self.lookups)
            .finish()
    }
}

fn mask(a: &Addr, bits: u8) -> [u8; 16] {
    let mut b = a.bytes;
    for (i, x) in b.iter_mut().enumerate() {
        let keep = usize::from(bits).saturating_sub(i * 8).min(8);
        *x &= if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
    }
    b
}

impl GeoDb {
    /// Opens the databases given.
    pub fn open(asn: Option<&std::path::Path>, geo: Option<&std::path::Path>) -> Result<GeoDb, String> {
        let open = |p: &std::path::Path| {
            Reader::open_readfile(p).map_err(|e| format!("{}: not a MaxMind database ({e})", p.display()))
        };
        Ok(GeoDb { asn: asn.map(open).transpose()?, geo: geo.map(open).transpose()?, ..GeoDb::default() })
    }

    /// Whether any database is open.
    pub fn is_empty(&self) -> bool {
        self.asn.is_none() && self.geo.is_none()
    }

    fn cached(&self, k: usize, a: &Addr) -> Option<Origin> {
        self.lens[k].iter().find_map(|&(v, bits)| {
            if v != a.version {
                return None;
            }
            self.cache[k].get(&(v, bits, mask(a, bits))).cloned()
        })
    }

    fn remember(&mut self, k: usize, a: &Addr, bits: u8, o: &Origin) {
        if self.cache[k].len() >= 1 << 20 {
            return;
        }
        if !self.lens[k].contains(&(a.version, bits)) {
            self.lens[k].push((a.version, bits));
        }
        self.cache[k].insert((a.version, bits, mask(a, bits)), o.clone());
    }

    /// ASN, organisation and country of `a` (empty when no database knows it).
    pub fn lookup(&mut self, a: &Addr) -> Origin {
        let mut out = Origin::default();
        for k in 0..2 {
            let part = match self.cached(k, a) {
                Some(o) => o,
                None => {
                    let reader = if k == 0 { self.asn.as_ref() } else { self.geo.as_ref() };
                    let Some(reader) = reader else { continue };
                    self.lookups += 1;
                    let Ok(r) = reader.lookup(a.to_ip()) else { continue };
                    let mut o = Origin::default();
                    if k == 0 {
                        if let Ok(Some(rec)) = r.decode::<AsnRec>() {
                            o.asn = rec.autonomous_system_number;
                            o.org = rec.autonomous_system_organization.map(str::to_string);
                        }
                    } else if let Ok(Some(rec)) = r.decode::<GeoRec>() {
                        o.country = rec.country.or(rec.registered_country).and_then(|c| c.iso_code).map(str::to_string);
                    }
                    // The network the answer holds for; IPv4 in an IPv6 tree comes back as v4.
                    let bits = r.network().ok().map(|n| n.prefix()).unwrap_or(if a.version == 4 { 32 } else { 128 });
                    let bits = if a.version == 4 { bits.min(32) } else { bits };
                    self.remember(k, a, bits, &o);
                    o
                }
            };
            out.asn = out.asn.or(part.asn);
            out.org = out.org.or(part.org);
            out.country = out.country.or(part.country);
        }
        out
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use synth::mmdb::{build, Value};

    #[test]
    fn asn_and_country_from_test_databases_cached_by_network() {
        let dir = std::env::temp_dir().join(format!("v6watch-geo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let asn = dir.join("asn.mmdb");
        let geo = dir.join("geo.mmdb");
        let google = Value::Map(vec![
            ("autonomous_system_number".into(), Value::U32(15169)),
            ("autonomous_system_organization".into(), Value::Str("Google LLC".into())),
        ]);
        let wide = Value::Map(vec![
            ("autonomous_system_number".into(), Value::U32(2500)),
            ("autonomous_system_organization".into(), Value::Str("WIDE Project".into())),
        ]);
        std::fs::write(
            &asn,
            build(
                "GeoLite2-ASN",
                &[
                    ("2404:6800::".parse().unwrap(), 32, google.clone()),
                    ("74.125.0.0".parse().unwrap(), 16, google),
                    ("2001:200::".parse().unwrap(), 32, wide),
                ],
            ),
        )
        .unwrap();
        let jp = Value::Map(vec![("country".into(), Value::Map(vec![("iso_code".into(), Value::Str("JP".into()))]))]);
        std::fs::write(&geo, build("GeoLite2-Country", &[("2001:200::".parse().unwrap(), 32, jp)])).unwrap();
        let mut db = GeoDb::open(Some(&asn), Some(&geo)).unwrap();
        let a = |s: &str| Addr::from_ip(s.parse().unwrap());
        let g = db.lookup(&a("2404:6800:4004:805::1000"));
        assert_eq!((g.asn, g.org.as_deref(), g.country.as_deref()), (Some(15169), Some("Google LLC"), None));
        let walks = db.lookups;
        let g2 = db.lookup(&a("2404:6800:4004:805::100b"));
        assert_eq!(g2.asn, Some(15169));
        assert_eq!(db.lookups, walks, "both answers (and the empty country one) came from the per-network cache");
        assert_eq!(db.lookup(&a("74.125.153.102")).org.as_deref(), Some("Google LLC"));
        let jaist = db.lookup(&a("2001:200:141:feed::feed"));
        assert_eq!((jaist.asn, jaist.country.as_deref()), (Some(2500), Some("JP")));
        assert_eq!(db.lookup(&a("192.0.2.1")), Origin::default());
        assert!(GeoDb::open(Some(&dir.join("missing.mmdb")), None).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
