//! The simulated customers and the identifiers Meta would give them.
//!
//! Everything about the cast derives from the seed, so a demo or a benchmark
//! shows the same people saying the same things every run. Message ids do
//! *not* derive from the seed: a restarted demo reuses its database, and
//! repeated ids would be deduplicated away by the core.

use base64::Engine as _;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// One simulated customer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SimCustomer {
    /// Digits only, as Meta's `wa_id`.
    pub wa_id: String,
    /// The WhatsApp profile name.
    pub name: String,
    /// The business-scoped user id (BSUID) Meta sends as `user_id`.
    pub user_id: String,
    /// Index into [`SCRIPTS`]: what this customer writes about.
    pub script: usize,
}

const NAMES: &[&str] = &[
    "Ana Souza",
    "Ben Okafor",
    "Chloé Martin",
    "Dev Patel",
    "Elif Yılmaz",
    "Farah Haddad",
    "Gustavo Reyes",
    "Hana Kobayashi",
    "Ivan Petrov",
    "Jade Thompson",
    "Kwame Mensah",
    "Lena Fischer",
];

/// Short scripted conversations. A customer walks through their script one
/// line per turn, so a long demo shows threads that make sense.
pub const SCRIPTS: &[&[&str]] = &[
    &[
        "Hi! Where is my order #4821?",
        "It was supposed to arrive yesterday.",
        "Can you send me the tracking link?",
        "Thanks, I'll keep an eye on it.",
    ],
    &[
        "Hello, do you have the blue jacket in size M?",
        "Great, can I pick it up in store?",
        "What time do you close on Saturdays?",
    ],
    &[
        "Hi, I'd like to book a table for 4 tonight at 8pm.",
        "Could we sit outside if the weather is nice?",
        "Perfect, see you then!",
    ],
    &[
        "Good morning, my invoice shows a double charge.",
        "The amount is 49.90, charged on the 3rd and the 4th.",
        "When will the refund show up on my card?",
    ],
    &[
        "Hey, is the spring sale still on?",
        "Does the discount apply to shoes too?",
        "Ok, ordering now 🙂",
    ],
    &[
        "Hi there, I need to change my delivery address.",
        "The new address is on Rua das Flores, 120.",
        "Thank you so much!",
    ],
];

/// What customers say when the business writes to them.
pub const REPLIES: &[&str] = &[
    "Thanks!",
    "Great, that works for me.",
    "Ok, got it 👍",
    "Could you explain that a bit more?",
    "Perfect, thank you for the quick answer.",
    "Hmm, that's not what I expected.",
];

/// The cast for a seed: five distinct people with distinct US test numbers
/// (Meta's own examples use 1555 numbers, which no real subscriber holds).
pub fn cast(seed: u64, waba_id: &str) -> Vec<SimCustomer> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut names: Vec<&str> = NAMES.to_vec();
    names.shuffle(&mut rng);
    let mut out: Vec<SimCustomer> = Vec::new();
    for (i, name) in names.into_iter().take(5).enumerate() {
        let wa_id = loop {
            let candidate = format!("1555{:07}", rng.gen_range(0..10_000_000u32));
            if !out.iter().any(|c| c.wa_id == candidate) {
                break candidate;
            }
        };
        let script = (i + rng.gen_range(0..SCRIPTS.len())) % SCRIPTS.len();
        out.push(SimCustomer {
            user_id: business_scoped_user_id(waba_id, &wa_id),
            wa_id,
            name: name.to_owned(),
            script,
        });
    }
    out
}

/// One simulated Instagram customer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SimIgCustomer {
    /// The Instagram-scoped user id (IGSID) Meta sends as `sender.id`.
    pub igsid: String,
    pub name: String,
    /// Index into [`SCRIPTS`].
    pub script: usize,
}

/// Three Instagram customers for a seed, distinct from the WhatsApp cast.
pub fn instagram_cast(seed: u64) -> Vec<SimIgCustomer> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x1a57_a6e0);
    let mut names: Vec<&str> = NAMES.to_vec();
    names.shuffle(&mut rng);
    let mut out: Vec<SimIgCustomer> = Vec::new();
    // The WhatsApp cast takes the first five of its own shuffle; these are
    // other people most of the time, and a coincidence does no harm.
    for (i, name) in names.into_iter().rev().take(3).enumerate() {
        let igsid = loop {
            let candidate = format!("61{:014}", rng.gen_range(0..100_000_000_000_000u64));
            if !out.iter().any(|c| c.igsid == candidate) {
                break candidate;
            }
        };
        out.push(SimIgCustomer {
            igsid,
            name: name.to_owned(),
            script: (i + rng.gen_range(0..SCRIPTS.len())) % SCRIPTS.len(),
        });
    }
    out
}

/// An Instagram message id: Meta's are long base64url strings.
pub fn new_ig_mid() -> String {
    let raw: [u8; 24] = rand::thread_rng().gen();
    format!("aWdf{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
}

/// A media id: Meta's are 15-16 digit numbers.
pub fn new_media_id() -> String {
    format!("{}", rand::thread_rng().gen_range(1_000_000_000_000_000u64..9_999_999_999_999_999))
}

/// A stable BSUID for (business, customer): Meta's format is an ISO country
/// code, a dot and digits. It must be stable across runs so the core keys the
/// same contact the same way, hence a fixed hash rather than randomness.
pub fn business_scoped_user_id(waba_id: &str, wa_id: &str) -> String {
    // FNV-1a: tiny, deterministic, and good enough to spread fake ids.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in waba_id.bytes().chain([0u8]).chain(wa_id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{}.{}", country_of(wa_id), h)
}

fn country_of(wa_id: &str) -> &'static str {
    const PREFIXES: &[(&str, &str)] = &[
        ("1", "US"),
        ("44", "GB"),
        ("49", "DE"),
        ("33", "FR"),
        ("34", "ES"),
        ("39", "IT"),
        ("52", "MX"),
        ("55", "BR"),
        ("91", "IN"),
    ];
    PREFIXES.iter().find(|(p, _)| wa_id.starts_with(p)).map(|(_, c)| *c).unwrap_or("ZZ")
}

/// A fresh `wamid.` id. Meta's are base64 of a small binary record; this
/// imitates the look (`wamid.HBg…` with padding) without embedding the phone
/// number as Meta does, so ids can be logged without leaking numbers.
pub fn new_wamid() -> String {
    let mut raw = vec![0x1c, 0x18, 0x0c];
    raw.extend_from_slice(hex::encode_upper(rand::thread_rng().gen::<[u8; 12]>()).as_bytes());
    raw.push(0x00);
    format!("wamid.{}", base64::engine::general_purpose::STANDARD.encode(raw))
}

/// Meta's `conversation.id`: 32 lowercase hex digits.
pub fn new_conversation_id() -> String {
    hex::encode(rand::thread_rng().gen::<[u8; 16]>())
}

/// Meta's `fbtrace_id`: an opaque token quoted in support requests.
pub fn new_fbtrace_id() -> String {
    use rand::distributions::Alphanumeric;
    rand::thread_rng().sample_iter(&Alphanumeric).take(27).map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cast_is_deterministic_per_seed_and_varies_across_seeds() {
        let a = cast(7, "waba");
        assert_eq!(a, cast(7, "waba"));
        assert_ne!(a, cast(8, "waba"));
        assert_eq!(a.len(), 5);
        for c in &a {
            assert!(c.wa_id.starts_with("1555") && c.wa_id.len() == 11);
            assert!(c.user_id.starts_with("US."));
            assert!(c.script < SCRIPTS.len());
        }
        let mut ids: Vec<_> = a.iter().map(|c| &c.wa_id).collect();
        ids.dedup();
        assert_eq!(ids.len(), 5);
    }

    #[test]
    fn bsuid_is_scoped_to_the_business() {
        let one = business_scoped_user_id("waba-1", "15550001111");
        assert_eq!(one, business_scoped_user_id("waba-1", "15550001111"));
        assert_ne!(one, business_scoped_user_id("waba-2", "15550001111"));
        assert!(business_scoped_user_id("w", "447700900000").starts_with("GB."));
    }

    #[test]
    fn wamids_look_like_metas_and_are_unique() {
        let a = new_wamid();
        let b = new_wamid();
        assert_ne!(a, b);
        assert!(a.starts_with("wamid.HBg"), "{a}");
        let decoded =
            base64::engine::general_purpose::STANDARD.decode(a.trim_start_matches("wamid."));
        assert!(decoded.is_ok());
        assert_eq!(new_conversation_id().len(), 32);
        assert_eq!(new_fbtrace_id().len(), 27);
    }
}
