//! "Connect your business": the shell-level switch from the sandbox to the
//! account profile (like "Delete all my data", it stops one engine and
//! starts another, so it is a [`Shell`] method; the command is one line).
//!
//! Order matters, so that a failure at any step leaves nothing that would
//! make the next start boot a half-configured account profile, and the
//! sandbox keeps running meanwhile:
//! 1. the form is checked again (the same functions the UI uses);
//! 2. the token and ids are checked against the Graph API, nothing saved;
//! 3. the account profile is opened and the device enrolls at the relay
//!    (relay token and device key to the keyring);
//! 4. the Graph settings and token are saved last: only then does the
//!    account profile count as configured (`Core::is_configured`);
//! 5. the sandbox engine and demo stop and the account profile starts; the
//!    command's answer tells the UI, which reloads its state.

use parley_core::{business_graph_settings, check_business, ConnectError, CoreError, RelayError};
use parley_types::onboarding::{
    trimmed, validate_connect, ConnectField, ConnectOutcome, ConnectRequest, FieldError,
};
use parley_types::{ErrorCode, IpcError};
use tauri::AppHandle;
use zeroize::{Zeroize, Zeroizing};

use crate::{lock, open_core, start, Shell, ACCOUNT_PROFILE};

/// The name the relay lists this device under.
const DEVICE_NAME: &str = "Parley desktop";

fn refused(error: FieldError) -> ConnectOutcome {
    ConnectOutcome::Refused { errors: vec![error] }
}

/// An enrollment failure as the field to fix, or as a plain error.
fn enroll_failure(error: CoreError) -> Result<ConnectOutcome, IpcError> {
    Ok(refused(match error {
        CoreError::EnrollRefused(why) => FieldError::new(
            ConnectField::EnrollmentCode,
            format!(
                "The relay refused this enrollment code ({why}). Ask your relay administrator \
                 for a new one: a code works once and expires."
            ),
        ),
        CoreError::InvalidInput(why) => {
            // The core's sentence, capitalised (character-wise: it may not
            // start with ASCII).
            let mut chars = why.chars();
            let first = chars.next().map(|c| c.to_uppercase().collect::<String>());
            FieldError::new(
                ConnectField::RelayUrl,
                format!("{}{}.", first.unwrap_or_default(), chars.as_str()),
            )
        }
        CoreError::Relay(RelayError::Unreachable(_)) => FieldError::new(
            ConnectField::RelayUrl,
            "No relay answered at this address. Check the address and this computer's \
             connection, then try again.",
        ),
        other => return Err(other.into()),
    }))
}

/// A connect request whose access token and enrollment code are zeroed
/// when it is dropped, on every path out of `connect_business`.
struct WipedOnDrop(ConnectRequest);

impl Drop for WipedOnDrop {
    fn drop(&mut self) {
        self.0.access_token.zeroize();
        self.0.enrollment_code.zeroize();
    }
}

impl Shell {
    /// Check, enroll, save and switch to the account profile (see the
    /// module documentation). A refusal names the field to fix.
    pub async fn connect_business(
        &self,
        app: &AppHandle,
        received: ConnectRequest,
    ) -> Result<ConnectOutcome, IpcError> {
        let mut request = {
            let mut received = received;
            let request = WipedOnDrop(trimmed(&received));
            // Wipe the secrets as received; the trimmed copy is the only one,
            // and it is wiped however this function ends.
            received.access_token.zeroize();
            received.enrollment_code.zeroize();
            request
        };
        let request = &mut request.0;
        let errors = validate_connect(request);
        if !errors.is_empty() {
            return Ok(ConnectOutcome::Refused { errors });
        }
        // One connection attempt at a time.
        let _connecting = self.connecting.lock().await;
        let Some((data_dir, options)) = lock(&self.started_with).clone() else {
            return Err(IpcError::new(ErrorCode::Internal, "Parley has not finished starting."));
        };
        let current = self.core().await?;
        if !current.config().sandbox {
            return Err(IpcError::new(
                ErrorCode::InvalidInput,
                "Parley is already connected to a business. To connect another, use \"Delete \
                 all my data\" in Privacy & data first.",
            ));
        }
        let settings = business_graph_settings(
            options.graph_url.clone(),
            &request.phone_number_id,
            &request.waba_id,
        );
        // The only copy from here on, wiped when dropped.
        let token = Zeroizing::new(std::mem::take(&mut request.access_token));
        match check_business(&settings, token.clone()).await {
            Ok(_) => {}
            Err(ConnectError::Field(error)) => return Ok(refused(error)),
            Err(ConnectError::Failed(error)) => return Err(error.into()),
        }
        tracing::info!("business checked with Meta; enrolling the account profile");
        let account = open_core(app, data_dir.join(ACCOUNT_PROFILE)).await?;
        let code = Zeroizing::new(std::mem::take(&mut request.enrollment_code));
        if let Err(error) = account.enroll(&request.relay_url, &code, DEVICE_NAME).await {
            tracing::info!("enrollment at the relay failed");
            return enroll_failure(error);
        }
        let instagram = Some(request.instagram_account_id.clone()).filter(|i| !i.is_empty());
        account.set_instagram_account(instagram)?;
        account.finish_welcome()?;
        // Last: from here on the account profile is the one that starts.
        account.configure_graph(settings, token)?;

        tracing::info!("switching from the sandbox to the account profile");
        self.boot.send_replace(None);
        current.shutdown();
        drop(current);
        if let Some(path) = lock(&self.sandbox_info).take() {
            let _ = std::fs::remove_file(path);
        }
        let demo = lock(&self.demo).take();
        if let Some(demo) = demo {
            demo.shutdown().await;
        }
        start(app, &account);
        let info = account.app_info();
        self.finish_boot(Ok((account, None, None)));
        Ok(ConnectOutcome::Connected { info })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(error: CoreError) -> ConnectField {
        match enroll_failure(error) {
            Ok(ConnectOutcome::Refused { errors }) => errors[0].field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn relay_refusals_land_on_the_code_or_the_address() {
        assert_eq!(
            field(CoreError::EnrollRefused("the enrollment code was already used".into())),
            ConnectField::EnrollmentCode
        );
        assert_eq!(
            field(CoreError::Relay(RelayError::Unreachable("connection refused".into()))),
            ConnectField::RelayUrl
        );
        assert_eq!(
            field(CoreError::InvalidInput("the relay address must start with https://".into())),
            ConnectField::RelayUrl
        );
        assert!(enroll_failure(CoreError::NoGraphAccount).is_err(), "not a field's fault");
    }
}
