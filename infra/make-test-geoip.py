#!/usr/bin/env python3
"""Write two small databases in MaxMind's own schema, for the tests of that schema.

Production users license GeoIP2 / GeoLite2 City and ISP databases, which cannot be
redistributed; these files have the same record layout and MMDB types (written with
mmdb-writer, the library infra/fetch-geoip.sh already uses) with a few made-up networks, so
the reader's MaxMind path is tested on every run.

Usage: make-test-geoip.py OUT_DIR   (writes GeoIP2-City-Test.mmdb and GeoIP2-ISP-Test.mmdb)
"""

import os
import sys

from mmdb_writer import MMDBWriter, MmdbU32, MmdbU16
from netaddr import IPSet


def names(en, de=None):
    out = {"en": en}
    if de:
        out["de"] = de
    return out


def city_db(path):
    w = MMDBWriter(ip_version=6, database_type="GeoIP2-City", languages=["en", "de"],
                   description={"en": "atrack test data in the GeoIP2-City schema",
                                "de": "atrack-Testdaten im GeoIP2-City-Schema"},
                   ipv4_compatible=True)
    w.insert_network(IPSet(["81.2.69.0/24"]), {
        "city": {"geoname_id": MmdbU32(2643743), "names": names("London", "London")},
        "continent": {"code": "EU", "geoname_id": MmdbU32(6255148), "names": names("Europe")},
        "country": {"geoname_id": MmdbU32(2635167), "iso_code": "GB",
                    "names": names("United Kingdom", "Vereinigtes Königreich")},
        "location": {"accuracy_radius": MmdbU16(10), "latitude": 51.5142, "longitude": -0.0931,
                     "time_zone": "Europe/London"},
        "postal": {"code": "EC2V"},
        "subdivisions": [
            {"geoname_id": MmdbU32(6269131), "iso_code": "ENG", "names": names("England")},
            {"geoname_id": MmdbU32(3333218), "iso_code": "WBK", "names": names("City of London")},
        ],
    })
    w.insert_network(IPSet(["2a02:d300::/29"]), {
        "country": {"geoname_id": MmdbU32(690791), "iso_code": "UA", "names": names("Ukraine")},
        "location": {"accuracy_radius": MmdbU16(100), "latitude": 49.0, "longitude": 32.0,
                     "time_zone": "Europe/Kyiv"},
    })
    w.to_db_file(path)


def isp_db(path):
    w = MMDBWriter(ip_version=6, database_type="GeoIP2-ISP", languages=["en"],
                   description={"en": "atrack test data in the GeoIP2-ISP schema"},
                   ipv4_compatible=True)
    w.insert_network(IPSet(["81.2.69.0/24"]), {
        "autonomous_system_number": MmdbU32(20712),
        "autonomous_system_organization": "Andrews & Arnold Ltd",
        "isp": "Andrews & Arnold Ltd",
        "organization": "STONEHOUSE office network",
    })
    w.to_db_file(path)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    city_db(os.path.join(out, "GeoIP2-City-Test.mmdb"))
    isp_db(os.path.join(out, "GeoIP2-ISP-Test.mmdb"))


if __name__ == "__main__":
    main()
