use super::FieldError;
use std::fmt;

/// A 6-digit confirmation code. Generated from the OS CSPRNG; parsed leniently from what a
/// person pastes (spaces and dashes ignored).
#[derive(Clone, PartialEq, Eq)]
pub struct ConfirmationCode(String);

impl ConfirmationCode {
    pub fn generate() -> Self {
        // Rejection sampling over u32 avoids modulo bias.
        loop {
            let mut b = [0u8; 4];
            getrandom::fill(&mut b).expect("the OS random source is available");
            let n = u32::from_le_bytes(b);
            if n < 4_294_000_000 {
                return Self(format!("{:06}", n % 1_000_000));
            }
        }
    }

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, FieldError> {
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(digits))
        } else {
            Err(FieldError::new(field, "must be the 6-digit code from the email"))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Never printed: codes are secrets.
impl fmt::Debug for ConfirmationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConfirmationCode(******)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> = (0..50).map(|_| ConfirmationCode::generate().0).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        );
        assert!(codes.len() > 40);
    }

    #[test]
    fn parses_pasted_codes() {
        assert_eq!(ConfirmationCode::parse("code", " 123 456 ").unwrap().expose(), "123456");
        assert_eq!(ConfirmationCode::parse("code", "123-456").unwrap().expose(), "123456");
        for bad in ["12345", "1234567", "abcdef", "", "12345\n"] {
            assert!(ConfirmationCode::parse("code", bad).is_err(), "{bad:?}");
        }
        assert!(!format!("{:?}", ConfirmationCode::parse("c", "123456").unwrap()).contains("123"));
    }
}
