//! The core's error type and its translation into sentences for the agent.

use parley_types::{ErrorCode, IpcError};

use crate::profile::ProfileError;
use crate::relay_client::RelayError;
use crate::secrets::SecretError;
use crate::store::{MergeRefusal, OpenError, QueueRefusal, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Refused(#[from] QueueRefusal),
    #[error("{0}")]
    InvalidInput(String),
    #[error(transparent)]
    Merge(#[from] MergeRefusal),
    #[error("this profile is not connected to a relay yet: enroll the device first")]
    NotEnrolled,
    #[error("this profile has no WhatsApp number configured yet")]
    NoGraphAccount,
    #[error(transparent)]
    Relay(#[from] RelayError),
    /// The relay did not accept an enrollment code.
    #[error("the relay did not accept the enrollment code: {0}")]
    EnrollRefused(String),
    #[error("cannot start the network client: {0}")]
    Http(String),
    #[error("the keyring holds a damaged {0}; reconnect this profile")]
    BadSecret(&'static str),
    #[error(
        "the keyring has no key for this profile's database, so its messages cannot be read. \
         If you moved the profile, restore the keyring it came with; nothing was changed"
    )]
    MissingDatabaseKey,
    #[error("Parley is locked: unlock it with your passphrase to continue")]
    Locked,
    #[error("that passphrase is not right: check it and try again")]
    WrongPassphrase,
    /// Meta refused or could not be reached; the sentence says what to do.
    #[error("{message}")]
    Meta { message: String, code: ErrorCode },
}

impl From<&CoreError> for IpcError {
    fn from(e: &CoreError) -> IpcError {
        let code = match e {
            CoreError::Store(StoreError::NotFound)
            | CoreError::Refused(QueueRefusal::NoConversation | QueueRefusal::NoMessage) => {
                ErrorCode::NotFound
            }
            CoreError::Refused(
                QueueRefusal::WindowClosed | QueueRefusal::InstagramWindowClosed,
            ) => ErrorCode::WindowClosed,
            CoreError::InvalidInput(_)
            | CoreError::Merge(_)
            | CoreError::Refused(
                QueueRefusal::ChannelNotSupported
                | QueueRefusal::NotRetryable
                | QueueRefusal::FilesNotSupported
                | QueueRefusal::ReactionsNotSupported
                | QueueRefusal::NotReactable
                | QueueRefusal::ReactionTooOld
                | QueueRefusal::TemplatesNotSupported,
            ) => ErrorCode::InvalidInput,
            CoreError::NotEnrolled | CoreError::NoGraphAccount | CoreError::BadSecret(_) => {
                ErrorCode::Reconnect
            }
            CoreError::MissingDatabaseKey => ErrorCode::Storage,
            CoreError::Locked => ErrorCode::Locked,
            CoreError::WrongPassphrase => ErrorCode::InvalidInput,
            CoreError::Relay(RelayError::Rejected(_)) => ErrorCode::Reconnect,
            CoreError::Relay(_) | CoreError::Http(_) => ErrorCode::RetryLater,
            CoreError::EnrollRefused(_) => ErrorCode::InvalidInput,
            CoreError::Profile(ProfileError::InUse { .. }) => ErrorCode::RetryLater,
            CoreError::Open(_) | CoreError::Store(_) | CoreError::Profile(_) => ErrorCode::Storage,
            CoreError::Secrets(_) => ErrorCode::Reconnect,
            CoreError::Meta { code, .. } => *code,
        };
        IpcError::new(code, capitalise(&e.to_string()))
    }
}

impl From<CoreError> for IpcError {
    fn from(e: CoreError) -> IpcError {
        IpcError::from(&e)
    }
}

pub(crate) fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
