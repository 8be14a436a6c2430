use secrecy::{ExposeSecret, SecretString};

/// A password chosen at signup that passed the policy: 12 to 128 characters, and not
/// guessable (zxcvbn score of at least 3, which refuses passwords on common-password
/// lists, keyboard walks, repeats and ones built from the user's own email or organization).
pub struct NewPassword(SecretString);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("must be at least {min} characters")]
    TooShort { min: usize },
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("is too easy to guess (it is common or built from a simple pattern); {hint}")]
    TooGuessable { hint: String },
}

impl NewPassword {
    pub const MIN_CHARS: usize = 12;
    pub const MAX_CHARS: usize = 128;

    /// `context` holds words the password must not be built from (email, organization).
    pub fn parse(raw: SecretString, context: &[&str]) -> Result<Self, PasswordError> {
        let pw = raw.expose_secret();
        let n = pw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(PasswordError::TooShort { min: Self::MIN_CHARS });
        }
        if n > Self::MAX_CHARS {
            return Err(PasswordError::TooLong { max: Self::MAX_CHARS });
        }
        let estimate = zxcvbn::zxcvbn(pw, context);
        if (estimate.score() as u8) < 3 {
            let hint = estimate
                .feedback()
                .and_then(|f| f.suggestions().first().map(|s| s.to_string()))
                .unwrap_or_else(|| "add more words or characters".to_owned());
            return Err(PasswordError::TooGuessable { hint });
        }
        Ok(Self(raw))
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &str) -> Result<NewPassword, PasswordError> {
        NewPassword::parse(SecretString::from(s), &["alice@example.com", "Acme"])
    }

    #[test]
    fn policy() {
        assert!(matches!(check("short"), Err(PasswordError::TooShort { .. })));
        assert!(matches!(check(&"x".repeat(129)), Err(PasswordError::TooLong { .. })));
        for common in [
            "password1234",
            "123456789012",
            "qwertyuiopasdf",
            "aaaaaaaaaaaa",
            "iloveyou1234!",
            "acme12345678",
        ] {
            assert!(
                matches!(check(common), Err(PasswordError::TooGuessable { .. })),
                "{common} accepted"
            );
        }
        assert!(check("correct horse battery staple").is_ok());
        assert!(check("Vq7#pL2!xR9z").is_ok());
    }
}
