//! API tokens as the console's tokens page creates, lists and revokes them. The token itself is
//! shown once, at creation; the server keeps only its hash.

use serde::{Deserialize, Serialize};

/// Longest token name, in characters.
pub const TOKEN_NAME_MAX: usize = 100;
/// Longest life a token may be given, in days (ten years).
pub const TOKEN_EXPIRY_DAYS_MAX: u32 = 3650;

/// What a token may do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScopeChoice {
    /// Submit notifications only: what the reporting system needs.
    #[default]
    Notify,
    /// Everything a signed-in administrator may do through REST.
    Admin,
}

impl TokenScopeChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScopeChoice::Notify => "notify",
            TokenScopeChoice::Admin => "admin",
        }
    }
}

/// A new token as asked for on the page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTokenRequest {
    pub name: String,
    pub scope: TokenScopeChoice,
    /// Days until it stops working; `None`: it does not expire.
    pub expires_days: Option<u32>,
}

/// Why a token could not be created or revoked. The snake_case name is the stable code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenError {
    NameRequired,
    NameTooLong,
    NameControlCharacters,
    /// A live token already has this name.
    NameTaken,
    ExpiryOutOfRange,
    /// No live token has this id (already revoked, or never existed).
    NotFound,
}

impl TokenError {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenError::NameRequired => "token_name_required",
            TokenError::NameTooLong => "token_name_too_long",
            TokenError::NameControlCharacters => "token_name_control_characters",
            TokenError::NameTaken => "token_name_taken",
            TokenError::ExpiryOutOfRange => "token_expiry_out_of_range",
            TokenError::NotFound => "token_not_found",
        }
    }
}

impl NewTokenRequest {
    /// The rules the browser runs as typed and the server runs again.
    pub fn check(&self) -> Result<(), TokenError> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(TokenError::NameRequired);
        }
        if name.chars().any(char::is_control) {
            return Err(TokenError::NameControlCharacters);
        }
        if name.chars().count() > TOKEN_NAME_MAX {
            return Err(TokenError::NameTooLong);
        }
        if let Some(days) = self.expires_days
            && !(1..=TOKEN_EXPIRY_DAYS_MAX).contains(&days)
        {
            return Err(TokenError::ExpiryOutOfRange);
        }
        Ok(())
    }
}

/// One token in the list: never the token or its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRow {
    /// The part after `mst_`, before the next `_` (what `server token revoke` takes).
    pub id: String,
    pub name: String,
    pub scope: String,
    pub created_by: String,
    /// UTC.
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// A token just created: the value, shown this once, and its row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub token: String,
    pub row: TokenRow,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(name: &str, days: Option<u32>) -> NewTokenRequest {
        NewTokenRequest {
            name: name.into(),
            scope: TokenScopeChoice::Notify,
            expires_days: days,
        }
    }

    #[test]
    fn a_token_request_is_checked_before_anything_is_made() {
        assert_eq!(request(" reports ", Some(365)).check(), Ok(()));
        assert_eq!(request("   ", None).check(), Err(TokenError::NameRequired));
        assert_eq!(
            request("a\u{7}b", None).check(),
            Err(TokenError::NameControlCharacters)
        );
        assert_eq!(
            request(&"帳".repeat(101), None).check(),
            Err(TokenError::NameTooLong)
        );
        assert_eq!(request(&"帳".repeat(100), None).check(), Ok(()));
        for days in [0, 3651] {
            assert_eq!(
                request("x", Some(days)).check(),
                Err(TokenError::ExpiryOutOfRange)
            );
        }
        assert_eq!(
            serde_json::to_value(TokenScopeChoice::default()).unwrap(),
            "notify",
            "least privilege by default"
        );
    }
}
