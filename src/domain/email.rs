use super::FieldError;
use std::fmt;

/// A normalized email address: trimmed, lower-cased, at most 254 characters, a single `@`
/// with a dotted domain, and no whitespace, control characters, quotes or angle brackets
/// (so it can never break out of a mail header).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Longest address, in bytes (the trimmed, lower-cased form).
    pub const MAX_LEN: usize = 254;

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, FieldError> {
        let bad = |why: &str| FieldError::new(field, format!("is not a valid email address ({why})"));
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err(FieldError::new(field, "is required"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(bad("too long"));
        }
        if s.chars()
            .any(|c| c.is_control() || c.is_whitespace() || "\"<>()[],;:\\".contains(c))
        {
            return Err(bad("unexpected character"));
        }
        let (local, domain) = s.split_once('@').ok_or_else(|| bad("missing @"))?;
        if local.is_empty() || local.len() > 64 || domain.contains('@') {
            return Err(bad("bad local part"));
        }
        let labels_ok = domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
        if !domain.contains('.') || !labels_ok {
            return Err(bad("bad domain"));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(bad("bad local part"));
        }
        // The mail library must accept it too: it is where it ends up.
        if s.parse::<lettre::Address>().is_err() {
            return Err(bad("not deliverable"));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For logs: the domain only, never the whole address.
    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, d)| d)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalizes() {
        let e = EmailAddress::parse("email", "  Alice.Smith@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "alice.smith@example.com");
        assert_eq!(e.domain(), "example.com");
    }

    #[test]
    fn refuses_bad_addresses() {
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "alice@example",
            "alice@@example.com",
            "a b@example.com",
            "alice@example.com\r\nBcc: x@evil.com",
            "\"quoted\"@example.com",
            "<alice@example.com>",
            "alice@-example.com",
            "alice..b@example.com",
        ] {
            assert!(EmailAddress::parse("email", bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(EmailAddress::parse("email", &long).is_err());
    }

    proptest! {
        #[test]
        fn parsed_addresses_are_header_safe(s in "\\PC{0,80}") {
            if let Ok(e) = EmailAddress::parse("email", &s) {
                prop_assert!(!e.as_str().contains(['\r', '\n', ' ', '<', '>']));
                prop_assert_eq!(e.as_str().matches('@').count(), 1);
                prop_assert_eq!(EmailAddress::parse("email", e.as_str()).unwrap(), e);
            }
        }
    }
}
