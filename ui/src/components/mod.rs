//! Thin Yew components. They turn state into markup through the pure helpers
//! in `format`, and send `Action`s; they hold no business logic.

mod banner;
mod campaigns;
mod channels;
mod composer;
mod contact;
mod contacts;
mod conversation_list;
mod header;
pub mod icons;
mod lock;
mod privacy;
mod search;
mod template_picker;
mod templates;
mod thread;
mod welcome;

pub use banner::ErrorBanner;
pub use campaigns::CampaignsScreen;
pub use channels::ChannelsScreen;
pub use contacts::ContactsScreen;
pub use conversation_list::ConversationList;
pub use header::Header;
pub use lock::LockScreen;
pub use privacy::PrivacyScreen;
pub use search::HelpOverlay;
pub use templates::TemplatesScreen;
pub use thread::ThreadPane;
pub use welcome::Welcome;
