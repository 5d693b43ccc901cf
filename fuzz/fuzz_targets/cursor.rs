//! Pagination cursors come back from clients, so they are untrusted input.
//!
//! Properties: decoding any text never panics and never yields a state for another query; a
//! cursor this codec issued decodes to exactly what was encoded; and no text other than what
//! the codec issued decodes to a state it did not sign.
#![no_main]

use arbitrary::Arbitrary;
use atrack_shared::store::cursor::{CursorCodec, CursorError, CursorState};
use atrack_shared::store::item::{Attr, Item};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    project: String,
    name: String,
    sort: String,
    page: u64,
    after: Vec<(String, String)>,
    /// Text a client might send instead of (or derived from) a real cursor.
    sent: String,
    /// Where to change one byte of the issued cursor, and to what.
    flip_at: usize,
    flip_to: u8,
}

fuzz_target!(|input: Input| {
    let codec = CursorCodec::new(b"fuzzing secret".to_vec());
    let state = CursorState {
        project: input.project,
        name: input.name,
        sort: input.sort,
        page: input.page,
        after: input
            .after
            .into_iter()
            .map(|(k, v)| (k, Attr::S(v)))
            .collect::<Item>(),
    };

    // Arbitrary text: an error, or (only if it is a cursor this codec signed) this query's.
    if let Ok(decoded) = codec.decode(&input.sent, &state.project, &state.name, &state.sort) {
        assert_eq!(
            (&decoded.project, &decoded.name, &decoded.sort),
            (&state.project, &state.name, &state.sort)
        );
    }

    let issued = codec.encode(&state);
    assert_eq!(
        codec.decode(&issued, &state.project, &state.name, &state.sort),
        Ok(state.clone())
    );

    // The same cursor offered for another query is refused.
    let other = format!("{}x", state.name);
    assert_eq!(
        codec.decode(&issued, &state.project, &other, &state.sort),
        Err(CursorError::Foreign)
    );

    // A tampered cursor either fails or, where the change is invisible to base64 decoding,
    // still says exactly what was signed.
    let mut tampered = issued.clone().into_bytes();
    if !tampered.is_empty() {
        let at = input.flip_at % tampered.len();
        tampered[at] = input.flip_to;
        if let Ok(text) = String::from_utf8(tampered)
            && let Ok(decoded) = codec.decode(&text, &state.project, &state.name, &state.sort)
        {
            assert_eq!(decoded, state, "a tampered cursor {text:?} decoded to another state");
        }
    }

    // A codec with another secret (another deployment) accepts none of this one's cursors.
    let foreign = CursorCodec::new(b"another secret".to_vec());
    assert_eq!(
        foreign.decode(&issued, &state.project, &state.name, &state.sort),
        Err(CursorError::BadSignature)
    );
});
