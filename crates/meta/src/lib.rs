//! Meta platform layer: everything Parley knows about WhatsApp Cloud API and
//! Instagram Messaging, and nothing about storage or UI.
//!
//! - [`signature`]: `X-Hub-Signature-256` signing and constant-time checking.
//! - [`routing`]: cutting a webhook body into per-channel parts (the relay).
//! - [`signed_request`]: the data-deletion callback's `signed_request`.
//! - [`webhook`]: the webhook model, normalised into [`webhook::WebhookEvent`]s.
//! - [`graph`]: the Graph API client and Meta's error codes.

pub mod graph;
pub mod routing;
pub mod signature;
pub mod signed_request;
pub mod webhook;
