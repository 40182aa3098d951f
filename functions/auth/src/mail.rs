//! The mails of the auth flows: a one-time token stored as a hash, the link mailed.

use tollgate_domain::token::generate_secret_token;
use tollgate_domain::{id::prefix, ActionToken, ActionTokenKind, Id, MailMessage, StoredEnum, TokenHash, User};
use tollgate_http::{ApiError, AppState};

/// Creates a one-time token of `kind` for `user` and mails its link.
pub async fn send_action_mail(state: &AppState, user: &User, kind: ActionTokenKind) -> Result<(), ApiError> {
    let now = state.now();
    let secret = generate_secret_token();
    let (ttl, subject, path, intro) = match kind {
        ActionTokenKind::VerifyEmail => (
            state.settings.verify_email_ttl,
            "Confirm your email address",
            "verify-email",
            "Confirm your email address by opening this link",
        ),
        ActionTokenKind::ResetPassword => (
            state.settings.reset_password_ttl,
            "Reset your password",
            "reset-password",
            "Someone (hopefully you) asked to reset your password. Choose a new one at this link",
        ),
        // The login challenge is handed back in the login's answer, never mailed.
        ActionTokenKind::MfaChallenge => return Err(ApiError::Internal("a 2FA challenge is never mailed".into())),
        // The sign-in's state goes to the identity provider, never by mail.
        ActionTokenKind::OidcState => return Err(ApiError::Internal("an OIDC state is never mailed".into())),
    };
    let token = ActionToken {
        hash: TokenHash::of(&secret),
        kind,
        user_id: user.id.clone(),
        created_at: now,
        expires_at: now + ttl,
    };
    state.store.create_action_token(&token).await?;
    let link = format!("{}/{path}?token={secret}", state.settings.public_base_url);
    let text_body = format!(
        "Hello {},\n\n{intro} (valid for {} hours):\n\n{link}\n\nOr send the token to the API: {secret}\n\nIf you did not ask for this, ignore this mail.\n",
        user.first_name,
        ttl.num_hours().max(1),
    );
    let message = MailMessage {
        id: Id::generate(prefix::MAIL),
        to: user.email.clone(),
        subject: subject.into(),
        text_body,
        html_body: None,
        kind: kind.as_str().into(),
        created_at: now,
    };
    state.mailer.send(&message).await?;
    tracing::info!(mail_id = %message.id, kind = kind.as_str(), user_id = %user.id, "mail sent");
    Ok(())
}
