use super::FieldError;
use std::fmt;

/// An organization (partner or client) name as people typed it: trimmed, 1 to 200 characters,
/// no control characters (so no CR/LF). Everything else, HTML or SQL-looking text included,
/// is kept verbatim as text; templates escape it where it is shown.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct OrganizationName(String);

impl OrganizationName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(FieldError::new(field, "is required"));
        }
        if s.chars().count() > Self::MAX_CHARS {
            return Err(FieldError::new(
                field,
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(FieldError::new(
                field,
                "must not contain line breaks or control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as it is compared: case folded and runs of white space as one space, so
    /// "Contoso  Ltd" and "contoso ltd" name the same client.
    pub fn folded(&self) -> String {
        self.0.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
    }
}

impl fmt::Display for OrganizationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_markup_and_sql_as_text() {
        for s in [
            "<script>alert(1)</script>",
            "Robert'); DROP TABLE partners;--",
            "Müller & Söhne",
        ] {
            assert_eq!(OrganizationName::parse("organization", s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn names_fold_case_and_runs_of_spaces() {
        let folded = |s| OrganizationName::parse("o", s).unwrap().folded();
        assert_eq!(folded("  Contoso    LTD "), "contoso ltd");
        assert_eq!(folded("Ärzte GmbH"), folded("ärzte  gmbh"));
        assert_ne!(folded("Contoso"), folded("Contoso Ltd"));
    }

    #[test]
    fn refuses_control_characters_empty_and_long() {
        assert!(OrganizationName::parse("o", "Acme\r\nBcc: x@y.z").is_err());
        assert!(OrganizationName::parse("o", "   ").is_err());
        assert!(OrganizationName::parse("o", &"x".repeat(201)).is_err());
        assert!(OrganizationName::parse("o", &"é".repeat(200)).is_ok());
    }
}
