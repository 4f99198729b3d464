//! [`EmailSender`] on Amazon SES (API v2): one `SendEmail` per message with a subject, an HTML
//! and a plain-text part, from the configured (verified) sender.
//!
//! Needs `ses:SendEmail` on the sender's identity.

use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use crate::domain::{EmailAddress, EmailSender, RenderedMessage, SendError};

/// Sends e-mail through SES.
#[derive(Debug, Clone)]
pub struct SesEmailSender {
    client: Client,
    from: String,
}

impl SesEmailSender {
    /// A sender whose messages come from `from` (an address or domain verified in SES).
    pub fn new(client: Client, from: impl Into<String>) -> Self {
        Self {
            client,
            from: from.into(),
        }
    }
}

fn utf8(data: &str) -> Result<Content, SendError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| SendError::Permanent(format!("InvalidContent: {e}")))
}

/// Which SES refusals are worth retrying.
///
/// Permanent: the message or the sender is refused as such (`MessageRejected` — e.g. an
/// unverified sender in the sandbox —, `MailFromDomainNotVerifiedException`, `NotFoundException`,
/// `BadRequestException`). Everything else — throttling (`TooManyRequestsException`,
/// `LimitExceededException`), 5xx, timeouts, and account-level states an operator fixes
/// (`SendingPausedException`, `AccountSuspendedException`) — is transient: the message waits in
/// the queue or the DLQ and is redriven once the cause is gone.
pub fn classify(err: &SdkError<SendEmailError>) -> SendError {
    send_error(err, |e| {
        e.is_message_rejected()
            || e.is_mail_from_domain_not_verified_exception()
            || e.is_not_found_exception()
            || e.is_bad_request_exception()
    })
}

/// A provider call's failure as a [`SendError`] (the SMS sender's too): the refusals
/// `is_permanent` names are permanent; other refusals and every failure to get an answer
/// (timeout, dispatch, unreadable response) are transient. The reason is the provider's error
/// code or the kind of failure, never the message.
pub(crate) fn send_error<E: ProvideErrorMetadata, R>(
    err: &SdkError<E, R>,
    is_permanent: impl FnOnce(&E) -> bool,
) -> SendError {
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("UnknownServiceError").to_string();
            if is_permanent(e) {
                SendError::Permanent(code)
            } else {
                SendError::Transient(code)
            }
        }
        SdkError::TimeoutError(_) => SendError::Transient("Timeout".into()),
        SdkError::DispatchFailure(_) => SendError::Transient("DispatchFailure".into()),
        SdkError::ResponseError(_) => SendError::Transient("ResponseError".into()),
        _ => SendError::Transient("RequestNotSent".into()),
    }
}

impl EmailSender for SesEmailSender {
    #[tracing::instrument(skip_all)]
    async fn send_email(
        &self,
        to: &EmailAddress,
        message: &RenderedMessage,
    ) -> Result<String, SendError> {
        let content = EmailContent::builder()
            .simple(
                Message::builder()
                    .subject(utf8(&message.subject)?)
                    .body(
                        Body::builder()
                            .html(utf8(&message.html)?)
                            .text(utf8(&message.text)?)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(to.as_str()).build())
            .content(content)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(out.message_id.unwrap_or_default())
    }
}
