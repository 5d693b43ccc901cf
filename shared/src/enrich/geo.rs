//! IP geolocation and ISP from MaxMind-format databases, memory-mapped and opened once per
//! process. Two record schemas are understood:
//!
//! - MaxMind's own GeoIP2 / GeoLite2 City (`city.names`, `country.iso_code`, `location`,
//!   `subdivisions`) and ASN / ISP (`autonomous_system_number`, `autonomous_system_organization`,
//!   `isp`, `organization`), what production users license;
//! - the flat schema of the freely redistributable ip-location-db packages (`city`,
//!   `country_code`, `latitude`, `longitude`, `state1`, `timezone`), which `infra/fetch-geoip.sh`
//!   installs by default.
//!
//! Without a database the lookup still answers `{ip}`: missing data is one warning at startup,
//! never a per-request error.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use maxminddb::{Mmap, Reader};
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
    city: Vec<Reader<Mmap>>,
    asn: Option<Reader<Mmap>>,
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
            city: city_paths.iter().filter_map(|p| open(p)).collect(),
            asn: asn_path.as_deref().and_then(open),
        };
        if geo.city.is_empty() || geo.asn.is_none() {
            tracing::warn!(
                city = !geo.city.is_empty(),
                asn = geo.asn.is_some(),
                "GeoIP data missing: run infra/fetch-geoip.sh or set GEOIP_CITY_DB / GEOIP_ASN_DB"
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

    fn record(reader: Option<&Reader<Mmap>>, ip: IpAddr) -> Option<Value> {
        let reader = reader?;
        // An IPv4-only database cannot take an IPv6 address.
        if ip.is_ipv6() && reader.metadata().ip_version != 6 {
            return None;
        }
        let result = reader.lookup(ip).ok()?;
        result.decode::<Value>().ok().flatten()
    }

    /// The `city` part of `ip_data`, from either schema.
    pub fn city(&self, ip: IpAddr) -> Option<Value> {
        let record = self
            .city
            .iter()
            .find_map(|reader| Self::record(Some(reader), ip))?;
        Some(
            if record.get("city").is_some_and(Value::is_object) || record.get("country").is_some() {
                maxmind_city(&record)
            } else {
                flat_city(&record)
            },
        )
    }

    /// The `isp` part of `ip_data`, from an ASN or ISP database.
    pub fn isp(&self, ip: IpAddr) -> Option<Value> {
        let record = Self::record(self.asn.as_ref(), ip)?;
        let org = record
            .get("autonomous_system_organization")
            .or_else(|| record.get("as_organization"))
            .cloned();
        let asn = record
            .get("autonomous_system_number")
            .or_else(|| record.get("asn"))
            .cloned();
        let isp = record.get("isp").cloned().or_else(|| org.clone());
        let organization = record.get("organization").cloned().or_else(|| org.clone());
        Some(json!({"isp": isp, "organization": organization, "asn": asn}))
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
        let Ok(addr) = text.parse::<IpAddr>() else {
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

/// A non-empty string field (ip-location-db writes "" for unknown values).
fn text(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn en_names(name: Option<&Value>) -> Option<Value> {
    text(name).map(|n| json!({"en": n}))
}

/// MaxMind's schema, trimmed to what the reference shows plus city names and subdivisions.
fn maxmind_city(record: &Value) -> Value {
    let mut out = Map::new();
    if let Some(country) = record.get("country") {
        out.insert(
            "country".into(),
            json!({
                "iso_code": country.get("iso_code"),
                "names": {"en": country.pointer("/names/en")},
            }),
        );
    }
    if let Some(location) = record.get("location") {
        out.insert(
            "location".into(),
            json!({
                "latitude": location.get("latitude"),
                "longitude": location.get("longitude"),
                "time_zone": location.get("time_zone"),
            }),
        );
    }
    if let Some(name) = record.pointer("/city/names/en") {
        out.insert("names".into(), json!({"en": name}));
    }
    if let Some(subdivisions) = record.get("subdivisions").and_then(Value::as_array) {
        let subs: Vec<Value> = subdivisions
            .iter()
            .map(
                |s| json!({"iso_code": s.get("iso_code"), "names": {"en": s.pointer("/names/en")}}),
            )
            .collect();
        out.insert("subdivisions".into(), Value::Array(subs));
    }
    Value::Object(out)
}

/// ip-location-db's flat schema, reshaped into MaxMind's so clients see one form.
fn flat_city(record: &Value) -> Value {
    let mut out = Map::new();
    if let Some(code) = text(record.get("country_code")) {
        out.insert(
            "country".into(),
            json!({"iso_code": code, "names": {"en": country_name(code)}}),
        );
    }
    // Coordinates are stored as 32-bit floats (28.530000686645508); four decimals is the
    // precision MaxMind publishes (28.53, -81.4807).
    let number = |name: &str| {
        let f = match record.get(name)? {
            Value::Number(n) => n.as_f64()?,
            Value::String(s) => s.parse::<f64>().ok()?,
            _ => return None,
        };
        Some(json!((f * 10_000.0).round() / 10_000.0))
    };
    out.insert(
        "location".into(),
        json!({
            "latitude": number("latitude"),
            "longitude": number("longitude"),
            "time_zone": text(record.get("timezone")),
        }),
    );
    if let Some(names) = en_names(record.get("city")) {
        out.insert("names".into(), names);
    }
    let subs: Vec<Value> = ["state1", "state2"]
        .iter()
        .filter_map(|k| en_names(record.get(*k)).map(|names| json!({"names": names})))
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
