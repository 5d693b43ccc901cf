//! Event queries, with no storage and no HTTP: the Profile Store's two query languages read into
//! one typed filter, one evaluator, and the pure part of the index planner.
//!
//! - `field`: the fields a query may name, their types and the literals each accepts
//! - `filter`: the AST both syntaxes produce ([`Filter`], [`Value`])
//! - `odata`: `$filter`, `$orderby`, `$top`, `$skip` (`GET TrackEvents`)
//! - `kql`: the KQL subset of `POST TrackEvents/preview`
//! - `eval`: [`matches`], whether a row matches a filter
//! - `plan`: [`plan`], which index and time range a filter lets the store read
//! - `datetime`, `scan`, `error`: literals, character scanning, the typed error
//!
//! Both parsers are hand-written recursive descent over a token list: input is limited to
//! [`MAX_INPUT_BYTES`], nesting to [`MAX_DEPTH`], and every error carries the parameter and the
//! character position it was found at. No input makes them panic.

pub mod datetime;
pub mod error;
pub mod eval;
pub mod field;
pub mod filter;
pub mod kql;
pub mod odata;
pub mod plan;
mod scan;

pub use error::{ErrorKind, MAX_DEPTH, MAX_INPUT_BYTES, Parameter, QueryError};
pub use eval::{Row, matches, missing_strings_as_empty};
pub use field::{Field, FieldType};
pub use filter::{CompareOp, Filter, TextOp, Value};
pub use kql::{KqlQuery, parse_kql};
pub use odata::{ODataQuery, parse_odata_query};
pub use plan::{Access, Plan, plan};

#[cfg(test)]
mod tests {
    //! Across modules: both syntaxes agree, and no input makes either parser panic.

    use super::*;
    use crate::domain::time::Timestamp;

    struct TestRow;

    const EVENT_TIME: &str = "2026-01-02T03:04:05Z";

    impl Row for TestRow {
        fn field(&self, field: &Field) -> Value {
            let s = |text: &str| Value::Str(text.to_string());
            match field {
                Field::EventType => s("pageview"),
                Field::DeviceId => s("d1"),
                Field::EventTime => Value::Time(t(EVENT_TIME)),
                Field::CountryCode => s("SE"),
                Field::PageUri => s("https://example.com/en/start-page"),
                Field::Value => s("Visited the start page."),
                Field::UserEmail => s(""),
                Field::UserName => s("John Smith"),
                Field::Payload(key) if key == "n" => Value::Num(5.0),
                _ => Value::Null,
            }
        }
    }

    fn t(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn now() -> Timestamp {
        t("2026-01-02T12:00:00Z")
    }

    fn odata(text: &str) -> Filter {
        odata::parse_filter(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn kql(text: &str) -> Filter {
        parse_kql(text, now())
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .filter
    }

    /// Valid queries the property test garbles; each must parse as it is.
    const ODATA: &[&str] = &[
        "EventType eq 'pageview' and EventTime ge 2026-01-01T00:00:00Z and EventTime lt 2026-02-01",
        "DeviceId eq 'd1' or (not startswith(PageUri, 'https://') and User/Email ne '')",
        "contains(Value,'it''s') eq false and Payload/n gt -1.5e2 and not Payload/flag",
        "DeviceId in ('d1', 'd2') and EventTime le datetime'2026-01-02T03:04:05.123+02:00'",
        "((CountryCode eq null) or 5 lt Payload/n) and endswith(User/Name, 'Smith') eq true",
    ];

    const KQL: &[&str] = &[
        "Events\n| where EventTime between (todatetime('2019-01-01') .. endofday(now()))\n    and EventType == 'pageview'\n    and User.Email != ''\n| take 2",
        "Events | where DeviceId in (\"d1\", 'd2') and not(Value has 'start' or PageUri !contains_cs \"x\\\"y\") | order by EventTime asc | limit 10",
        "Events | where EventTime > ago(1d) and EventTime <= now() - 30m + 10s and Payload.n !between (1 .. 4.5) and isnotempty(User/Name) // c\n| sort by EventTime desc",
        "Events | where EventTime >= startofday(datetime(2026-01-02 03:04:05)) and Value =~ 'visited the start page.' and CountryCode !in ('NO') | take 5000",
    ];

    #[test]
    fn both_syntaxes_parse_into_the_same_filter() {
        let pairs = [
            (
                "EventType eq 'pageview' and EventTime ge 2026-01-01",
                "Events | where EventType == 'pageview' and EventTime >= datetime(2026-01-01)",
            ),
            (
                "not (DeviceId eq 'd1' or User.Email ne '')",
                "Events | where not(DeviceId == \"d1\" or User/Email != '')",
            ),
            (
                "Payload/n gt 4 and EventTime lt '2026-01-02T03:04:06Z'",
                "Events | where Payload.n > 4 | where EventTime < todatetime('2026-01-02T03:04:06Z')",
            ),
            (
                "CountryCode in ('SE', 'NO')",
                "Events | where CountryCode in ('SE', 'NO')",
            ),
        ];
        for (o, k) in pairs {
            assert_eq!(odata(o), kql(k), "{o} / {k}");
        }
    }

    #[test]
    fn parsed_queries_evaluate_and_plan() {
        let row = TestRow;
        // The Profile Store's example wants an email, which this row lacks.
        assert!(!matches(&kql(KQL[0]), &row));
        assert!(matches(&kql(&KQL[0].replace("!=", "==")), &row));
        assert!(!matches(&kql(KQL[1]), &row));
        assert!(matches(
            &kql("Events | where Value has 'START' and Value !has 'star'"),
            &row
        ));
        assert!(!matches(&kql("Events | where Value has_cs 'START'"), &row));
        assert!(matches(
            &kql("Events | where Value contains 'VISITED'"),
            &row
        ));
        assert!(!matches(&odata("contains(Value, 'VISITED')"), &row));
        assert!(matches(
            &odata("DeviceId eq 'd1' and TrackId eq null"),
            &row
        ));
        assert!(matches(
            &kql("Events | where isempty(TrackId) and isempty(User.Email)"),
            &row
        ));
        assert!(matches(
            &kql("Events | where EventTime between (datetime(2026-01-02T03:04:05Z) .. now())"),
            &row
        ));
        assert!(!matches(
            &kql("Events | where EventTime between (now() .. endofday(now()))"),
            &row
        ));

        let p = plan(&kql(KQL[0]));
        assert_eq!(
            p.to_string(),
            "index=name:pageview from=2019-01-01T00:00:00.000000Z to=2026-01-02T23:59:59.999999Z"
        );
        let p = plan(&odata(
            "EventType eq 'a' and DeviceId eq 'd1' and EventTime gt 2026-01-01",
        ));
        assert_eq!(
            p.to_string(),
            "index=device:d1 from=2026-01-01T00:00:00.000001Z to=*"
        );
        let p = plan(&kql(
            "Events | where DeviceId in ('d1') | where EventTime < ago(1h)",
        ));
        assert_eq!(
            p.to_string(),
            "index=device:d1 from=* to=2026-01-02T10:59:59.999999Z"
        );
    }

    /// A small deterministic generator (xorshift64*), so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Characters worth inserting: the languages' punctuation, quotes, digits, letters that
    /// start keywords and units, and multi-byte characters of every UTF-8 length.
    const ALPHABET: &[char] = &[
        '(', ')', '\'', '"', '\\', '.', '/', ',', '|', '!', '=', '~', '<', '>', '-', '+', ':', ' ',
        '\n', '0', '9', 'e', 'd', 'm', 's', 'T', 'Z', 'n', 'o', 't', 'é', '€', '𝄞', '\u{0}',
    ];

    fn garble(rng: &mut Rng, text: &str) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        for _ in 0..=rng.below(2) {
            let at = rng.below(chars.len() + 1);
            match rng.below(8) {
                0 if !chars.is_empty() => {
                    let end = (at + 1 + rng.below(8)).min(chars.len());
                    chars.drain(at.min(end)..end);
                }
                0 | 1 => chars.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
                2 => {
                    let end = (at + 1 + rng.below(20)).min(chars.len());
                    let copy: Vec<char> = chars[at.min(end)..end].to_vec();
                    let to = rng.below(chars.len() + 1);
                    chars.splice(to..to, copy);
                }
                3 => {
                    // A deep run of openers, to reach the depth limit from odd places.
                    let opener = ["(", "not(", "not ", "startofday("][rng.below(4)];
                    let run: Vec<char> = opener.repeat(200 + rng.below(100)).chars().collect();
                    chars.splice(at..at, run);
                }
                4 => {
                    if let Some(c) = chars.get_mut(at) {
                        *c = ALPHABET[rng.below(ALPHABET.len())];
                    }
                }
                // Whitespace is free: most of these stay valid, so filters get evaluated.
                _ => chars.insert(at, [' ', '\n', '\t'][rng.below(3)]),
            }
        }
        chars.into_iter().collect()
    }

    /// What any parse result must satisfy: an error points inside the input; a filter
    /// evaluates, and its plan never excludes the row when the filter matches it.
    fn check(text: &str, result: Result<Filter, QueryError>) -> bool {
        match result {
            Err(err) => {
                let position = err.position.expect("parsers always give a position");
                assert!(position <= text.chars().count(), "{err} in {text:?}");
                assert!(!err.to_string().is_empty());
                false
            }
            Ok(filter) => {
                let row = TestRow;
                let p = plan(&filter);
                if matches(&filter, &row) {
                    match &p.access {
                        Access::Device(d) => assert_eq!(d, "d1", "{text:?}"),
                        Access::Name(n) => assert_eq!(n, "pageview", "{text:?}"),
                        Access::Time => {}
                    }
                    let at = t(EVENT_TIME);
                    assert!(p.from.is_none_or(|f| f <= at), "{p} for {text:?}");
                    assert!(p.to.is_none_or(|to| at <= to), "{p} for {text:?}");
                }
                true
            }
        }
    }

    #[test]
    fn garbled_queries_never_panic_and_errors_point_inside_the_input() {
        for text in ODATA {
            assert!(check(text, odata::parse_filter(text)), "{text}");
        }
        for text in KQL {
            assert!(
                check(text, parse_kql(text, now()).map(|q| q.filter)),
                "{text}"
            );
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut parsed, mut refused) = (0, 0);
        for round in 0..2500 {
            let o = garble(&mut rng, ODATA[round % ODATA.len()]);
            let k = garble(&mut rng, KQL[round % KQL.len()]);
            for ok in [
                check(&o, odata::parse_filter(&o)),
                check(&k, parse_kql(&k, now()).map(|q| q.filter)),
                // Each syntax's text through the other parser: mostly errors, never panics.
                check(&k, odata::parse_filter(&k)),
                check(&o, parse_kql(&o, now()).map(|q| q.filter)),
            ] {
                if ok {
                    parsed += 1;
                } else {
                    refused += 1;
                }
            }
            let _ = odata::parse_orderby(&o);
            let _ = parse_odata_query(None, None, Some(&o), Some(&k));
        }
        // The mutations must exercise both outcomes, or the test proves little.
        assert!(
            parsed > 500 && refused > 5000,
            "{parsed} parsed, {refused} refused"
        );
    }

    #[test]
    fn the_deepest_accepted_queries_fit_in_a_small_stack() {
        // Tokio's worker threads have 2 MB. An unoptimized build (this test's) needs between
        // 1 and 1.5 MB for 256 levels (parsing, evaluating, dropping); release builds less.
        let deep = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let n = MAX_DEPTH;
                let o = format!("{}Value eq 'a'{}", "not (".repeat(n / 2), ")".repeat(n / 2));
                // Value nesting counts inside condition nesting: 128 + 127 + now() is 256.
                let k = format!(
                    "Events | where {}EventTime > {}now(){}{}",
                    "not(".repeat(n / 2),
                    "startofday(".repeat(n / 2 - 1),
                    ")".repeat(n / 2 - 1),
                    ")".repeat(n / 2)
                );
                let o = odata::parse_filter(&o).unwrap();
                let k = parse_kql(&k, now()).unwrap().filter;
                (matches(&o, &TestRow), matches(&k, &TestRow), plan(&k))
            })
            .unwrap()
            .join()
            .unwrap();
        // An even number of nots around each comparison.
        assert_eq!((deep.0, deep.1), (false, true));
        assert_eq!(deep.2.access, Access::Time);
    }
}
