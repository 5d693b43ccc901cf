//! GeoIP lookups against real MMDB files in both record schemas: the free ip-location-db
//! databases that infra/fetch-geoip.sh installs, and MaxMind's GeoIP2 City / ISP layout (the
//! databases production users license), here as small made-up files of that layout.

use std::path::Path;

use atrack_shared::enrich::geo::Geo;
use atrack_tests::{geoip, geoip_dir};
use serde_json::json;

#[test]
fn the_free_databases_resolve_the_reference_address_and_ipv6() {
    let geo = geoip();
    let data = geo.ip_data(Some("50.89.98.90")).data;
    assert_eq!(
        data["city"]["country"],
        json!({"iso_code": "US", "names": {"en": "United States"}})
    );
    assert_eq!(
        data["city"]["location"],
        json!({"latitude": 28.53, "longitude": -81.4807, "time_zone": "America/New_York"})
    );
    assert_eq!(data["city"]["subdivisions"][0]["names"]["en"], "Florida");
    assert_eq!(data["isp"]["asn"], 33363);

    // IPv6: Google's public resolver, in the IPv6 city file and the ASN tree.
    let v6 = geo.ip_data(Some("2001:4860:4860::8888"));
    assert_eq!(v6.stored_ip.as_deref(), Some("2001:4860:4860::8888"));
    assert_eq!(v6.data["city"]["country"]["iso_code"], "US");
    assert_eq!(v6.data["isp"]["asn"], 15169);
    // An IPv4-mapped address is looked up, and stored, as the IPv4 address.
    let mapped = geo.ip_data(Some("::ffff:50.89.98.90"));
    assert_eq!(mapped.stored_ip.as_deref(), Some("50.89.98.90"));
    assert_eq!(mapped.data["city"]["country"]["iso_code"], "US");
    // Private and unparseable addresses get `{ip}` and nothing invented.
    assert_eq!(
        geo.ip_data(Some("10.1.2.3")).data,
        json!({"ip": "10.1.2.3"})
    );
    assert_eq!(
        geo.ip_data(Some("300.1.1.1")).data,
        json!({"ip": "300.1.1.1"})
    );
}

#[test]
fn maxmind_schema_databases_give_the_same_shape() {
    let dir = geoip_dir().join("test");
    let city = dir.join("GeoIP2-City-Test.mmdb");
    let isp = dir.join("GeoIP2-ISP-Test.mmdb");
    assert!(
        city.is_file() && isp.is_file(),
        "run infra/fetch-geoip.sh (infra/test.sh does)"
    );
    let geo = Geo::open(Some(Path::new(&city)), Some(&isp));
    let data = geo.ip_data(Some("81.2.69.160")).data;
    assert_eq!(
        data,
        json!({
            "ip": "81.2.69.160",
            "city": {
                "country": {"iso_code": "GB", "names": {"en": "United Kingdom"}},
                "location": {"latitude": 51.5142, "longitude": -0.0931, "time_zone": "Europe/London"},
                "names": {"en": "London"},
                "subdivisions": [
                    {"iso_code": "ENG", "names": {"en": "England"}},
                    {"iso_code": "WBK", "names": {"en": "City of London"}}
                ]
            },
            "isp": {"isp": "Andrews & Arnold Ltd", "organization": "STONEHOUSE office network", "asn": 20712}
        })
    );
    let v6 = geo.ip_data(Some("2a02:d300::1")).data;
    assert_eq!(v6["city"]["country"]["iso_code"], "UA");
    assert_eq!(v6["city"]["location"]["time_zone"], "Europe/Kyiv");
    assert!(
        v6.get("isp").is_none(),
        "no ISP record for that network: {v6}"
    );
    // Outside every network: the address alone.
    assert_eq!(
        geo.ip_data(Some("192.0.2.1")).data,
        json!({"ip": "192.0.2.1"})
    );
}

#[test]
fn missing_databases_degrade_to_the_address() {
    let geo = Geo::open(
        Some(Path::new("/nonexistent/city.mmdb")),
        Some(Path::new("/nonexistent/asn.mmdb")),
    );
    assert!(!geo.has_city() && !geo.has_asn());
    assert_eq!(
        geo.ip_data(Some("50.89.98.90")).data,
        json!({"ip": "50.89.98.90"})
    );
}
