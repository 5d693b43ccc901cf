//! IP geolocation and ISP from MaxMind-format databases, memory-mapped and opened once per
//! process. Two record schemas are understood:
//!
//! - MaxMind's own GeoIP2 / GeoLite2 City (`city.names`, `country.iso_code`, `location`,
//!   `subdivisions`) and ASN / ISP (`autonomous_system_number`, `autonomous_system_organization`,
//!   `isp`, `organization`), what production users license;
//! - the flat schema of the freely redistributable ip-location-db packages (`city`,
//!   `country_code`, `latitude`, `longitude`, `state1`, `timezone`), which `atrack geoip fetch`
//!   installs by default.
//!
//! Without a database the lookup still answers `{ip}`: missing data is one warning at startup,
//! never a per-request error.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use maxminddb::{Mmap, Reader, geoip2};

use crate::domain::commands::Place;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The enriched IP: the address as stored and the `ip_data` object.
#[derive(Debug, Clone, PartialEq)]
pub struct IpData {
    pub stored_ip: Option<String>,
    pub data: Value,
}

/// Open GeoIP databases; any may be missing. City data may come as one database for both
/// address families (MaxMind) or as one per family (ip-location-db ships IPv4 and IPv6 apart).
#[derive(Default)]
pub struct Geo {
    city: Vec<CityDb>,
    asn: Option<Reader<Mmap>>,
}

/// The record layout of a city database, found once when it is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Schema {
    /// MaxMind's GeoIP2 / GeoLite2 (and DB-IP's, which follows it).
    MaxMind,
    /// ip-location-db's flat records.
    Flat,
}

struct CityDb {
    reader: Reader<Mmap>,
    schema: Schema,
}

impl CityDb {
    /// Tells the schema from a few well-known addresses' records: the flat one has a
    /// `country_code` string where MaxMind's has a `country` map.
    fn new(reader: Reader<Mmap>) -> Self {
        let probes: [IpAddr; 3] = [
            IpAddr::from([8, 8, 8, 8]),
            IpAddr::from([1, 1, 1, 1]),
            IpAddr::from([0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888]),
        ];
        let flat = probes.iter().any(|ip| {
            lookup::<Value>(&reader, *ip).is_some_and(|r| r.get("country_code").is_some())
        });
        let schema = if flat { Schema::Flat } else { Schema::MaxMind };
        CityDb { reader, schema }
    }
}

/// Decodes the record for `ip` as `T`; `None` when the database has none, cannot take the
/// address family, or the record is not of that shape.
fn lookup<'de, T: Deserialize<'de>>(reader: &'de Reader<Mmap>, ip: IpAddr) -> Option<T> {
    // An IPv4-only database cannot take an IPv6 address.
    if ip.is_ipv6() && reader.metadata().ip_version != 6 {
        return None;
    }
    reader.lookup(ip).ok()?.decode::<T>().ok().flatten()
}

/// A coordinate as a flat database stores it: ip-location-db writes 32-bit floats, other
/// writers doubles or text; MMDB decoding is strict about the type, so take any of them.
#[derive(Debug, Clone, Copy)]
struct Coordinate(f64);

impl<'de> Deserialize<'de> for Coordinate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Coordinate;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a coordinate")
            }
            fn visit_f32<E>(self, v: f32) -> Result<Coordinate, E> {
                Ok(Coordinate(f64::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Coordinate, E> {
                Ok(Coordinate(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Coordinate, E> {
                v.trim().parse().map(Coordinate).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A record of ip-location-db's city databases. Unknown values are empty strings there.
#[derive(Debug, Default, Deserialize)]
struct FlatCity<'a> {
    #[serde(borrow, default)]
    city: Option<&'a str>,
    #[serde(default)]
    country_code: Option<&'a str>,
    #[serde(default)]
    latitude: Option<Coordinate>,
    #[serde(default)]
    longitude: Option<Coordinate>,
    #[serde(default)]
    state1: Option<&'a str>,
    #[serde(default)]
    state2: Option<&'a str>,
    #[serde(default)]
    timezone: Option<&'a str>,
}

/// Where the fetch script puts the free databases, relative to the working directory, and
/// where a Lambda layer mounts them.
const DEFAULT_DIRS: &[&str] = &["data/geoip", "/opt/geoip"];

fn default_path(file: &str) -> Option<PathBuf> {
    DEFAULT_DIRS
        .iter()
        .map(|d| Path::new(d).join(file))
        .find(|p| p.is_file())
}

fn open(path: &Path) -> Option<Reader<Mmap>> {
    // SAFETY: the map is read-only and the databases are replaced by writing a new file and
    // renaming it over the old one (as the fetch script does), never modified in place, so the
    // mapped bytes do not change under the reader.
    match unsafe { Reader::open_mmap(path) } {
        Ok(reader) => Some(reader),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot open GeoIP database; IP enrichment limited to the address");
            None
        }
    }
}

impl Geo {
    /// Opens the databases at the given paths, or at the default locations.
    /// `city` may list several files separated by commas (e.g. an IPv4 and an IPv6 one).
    pub fn open(city: Option<&Path>, asn: Option<&Path>) -> Self {
        let city_paths: Vec<PathBuf> = match city {
            Some(list) => list
                .to_string_lossy()
                .split(',')
                .map(|p| PathBuf::from(p.trim()))
                .collect(),
            None => ["city.mmdb", "city-ipv4.mmdb", "city-ipv6.mmdb"]
                .iter()
                .filter_map(|f| default_path(f))
                .collect(),
        };
        let asn_path = asn
            .map(Path::to_path_buf)
            .or_else(|| default_path("asn.mmdb"));
        let geo = Geo {
            city: city_paths
                .iter()
                .filter_map(|p| open(p))
                .map(CityDb::new)
                .collect(),
            asn: asn_path.as_deref().and_then(open),
        };
        if geo.city.is_empty() || geo.asn.is_none() {
            tracing::warn!(
                city = !geo.city.is_empty(),
                asn = geo.asn.is_some(),
                "GeoIP data missing: ip_data holds the address only (set GEOIP_CITY_DB / GEOIP_ASN_DB)"
            );
        }
        geo
    }

    /// No databases: every lookup answers `{ip}`.
    pub fn disabled() -> Self {
        Geo::default()
    }

    pub fn has_city(&self) -> bool {
        !self.city.is_empty()
    }

    pub fn has_asn(&self) -> bool {
        self.asn.is_some()
    }

    /// The `city` part of `ip_data`, from either schema, in MaxMind's shape. Records are
    /// decoded into typed structs borrowing from the map, not into generic JSON.
    pub fn city(&self, ip: IpAddr) -> Option<Value> {
        self.city.iter().find_map(|db| match db.schema {
            Schema::MaxMind => lookup::<geoip2::City>(&db.reader, ip).map(|r| maxmind_city(&r)),
            Schema::Flat => lookup::<FlatCity>(&db.reader, ip).map(|r| flat_city(&r)),
        })
    }

    /// The `isp` part of `ip_data`, from an ASN or ISP database (GeoIP2-ISP's record is a
    /// superset of GeoLite2-ASN's).
    pub fn isp(&self, ip: IpAddr) -> Option<Value> {
        let record = lookup::<geoip2::Isp>(self.asn.as_ref()?, ip)?;
        let org = record.autonomous_system_organization;
        Some(json!({
            "isp": record.isp.or(org),
            "organization": record.organization.or(org),
            "asn": record.autonomous_system_number,
        }))
    }

    /// The country and city of an address, where the databases know them: what an event with
    /// an address of its own stores (a query's `CountryCode` and `City`).
    pub fn place(&self, ip: &str) -> Place {
        let data = self.ip_data(Some(ip)).data;
        let city = &data["city"];
        let text = |v: &Value| v.as_str().map(str::to_owned);
        Place {
            country_code: text(&city["country"]["iso_code"]),
            city: text(&city["names"]["en"]),
        }
    }

    /// Builds `ip_address` and `ip_data` for a client IP as sent. An address that does not
    /// parse is stored as sent, with `ip_data = {ip}`.
    pub fn ip_data(&self, ip: Option<&str>) -> IpData {
        let Some(text) = ip.map(str::trim).filter(|s| !s.is_empty()) else {
            return IpData {
                stored_ip: None,
                data: json!({}),
            };
        };
        let Some(addr) = crate::domain::settings::parse_client_ip(text) else {
            return IpData {
                stored_ip: Some(text.to_owned()),
                data: json!({"ip": text}),
            };
        };
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        let mut data = Map::new();
        data.insert("ip".into(), Value::String(addr.to_string()));
        if let Some(city) = self.city(addr) {
            data.insert("city".into(), city);
        }
        if let Some(isp) = self.isp(addr) {
            data.insert("isp".into(), isp);
        }
        IpData {
            stored_ip: Some(addr.to_string()),
            data: Value::Object(data),
        }
    }
}

/// A non-empty string (ip-location-db writes "" for unknown values).
fn text(value: Option<&str>) -> Option<&str> {
    value.filter(|s| !s.is_empty())
}

fn en_names(name: Option<&str>) -> Option<Value> {
    text(name).map(|n| json!({"en": n}))
}

/// MaxMind's schema, trimmed to what the reference shows plus city names and subdivisions.
fn maxmind_city(record: &geoip2::City<'_>) -> Value {
    let mut out = Map::new();
    let country = &record.country;
    if country.iso_code.is_some() || country.names.english.is_some() {
        out.insert(
            "country".into(),
            json!({"iso_code": country.iso_code, "names": {"en": country.names.english}}),
        );
    }
    let location = &record.location;
    if location.latitude.is_some() || location.time_zone.is_some() {
        out.insert(
            "location".into(),
            json!({
                "latitude": location.latitude,
                "longitude": location.longitude,
                "time_zone": location.time_zone,
            }),
        );
    }
    if let Some(names) = en_names(record.city.names.english) {
        out.insert("names".into(), names);
    }
    if !record.subdivisions.is_empty() {
        let subs: Vec<Value> = record
            .subdivisions
            .iter()
            .map(|s| json!({"iso_code": s.iso_code, "names": {"en": s.names.english}}))
            .collect();
        out.insert("subdivisions".into(), Value::Array(subs));
    }
    Value::Object(out)
}

/// ip-location-db's flat schema, reshaped into MaxMind's so clients see one form.
fn flat_city(record: &FlatCity<'_>) -> Value {
    let mut out = Map::new();
    if let Some(code) = text(record.country_code) {
        out.insert(
            "country".into(),
            json!({"iso_code": code, "names": {"en": country_name(code)}}),
        );
    }
    // Coordinates are stored as 32-bit floats (28.530000686645508); four decimals is the
    // precision MaxMind publishes (28.53, -81.4807).
    let round = |c: Option<Coordinate>| c.map(|Coordinate(f)| (f * 10_000.0).round() / 10_000.0);
    out.insert(
        "location".into(),
        json!({
            "latitude": round(record.latitude),
            "longitude": round(record.longitude),
            "time_zone": text(record.timezone),
        }),
    );
    if let Some(names) = en_names(record.city) {
        out.insert("names".into(), names);
    }
    let subs: Vec<Value> = [record.state1, record.state2]
        .into_iter()
        .filter_map(|state| en_names(state).map(|names| json!({"names": names})))
        .collect();
    if !subs.is_empty() {
        out.insert("subdivisions".into(), Value::Array(subs));
    }
    Value::Object(out)
}

/// English country names as MaxMind spells them (short forms: "United States", not "United
/// States of America"), for databases that carry only the ISO code.
pub fn country_name(code: &str) -> Option<&'static str> {
    let upper = code.to_ascii_uppercase();
    COUNTRY_NAMES
        .binary_search_by(|(c, _)| c.cmp(&upper.as_str()))
        .ok()
        .map(|i| COUNTRY_NAMES[i].1)
}

include!("country_names.rs");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_table_is_sorted_and_complete_for_common_codes() {
        assert!(COUNTRY_NAMES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(country_name("US"), Some("United States"));
        assert_eq!(country_name("gb"), Some("United Kingdom"));
        assert_eq!(country_name("DE"), Some("Germany"));
        assert_eq!(country_name("ZZ"), None);
    }

    #[test]
    fn without_databases_lookups_answer_the_address() {
        let geo = Geo::disabled();
        assert_eq!(
            geo.ip_data(Some("50.89.98.90")).data,
            json!({"ip": "50.89.98.90"})
        );
        assert_eq!(
            geo.ip_data(Some("not an ip")).data,
            json!({"ip": "not an ip"})
        );
        assert_eq!(geo.ip_data(None).stored_ip, None);
        assert_eq!(
            geo.ip_data(Some("::ffff:1.2.3.4")).stored_ip.as_deref(),
            Some("1.2.3.4")
        );
    }
}
