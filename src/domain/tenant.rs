use super::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which SaaS platform an account protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    #[serde(rename = "microsoft365")]
    Microsoft365,
    GoogleWorkspace,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Microsoft365 => "microsoft365",
            Platform::GoogleWorkspace => "google_workspace",
        }
    }

    /// The platform [`Platform::as_str`] names.
    pub fn parse(raw: &str) -> Option<Self> {
        [Platform::Microsoft365, Platform::GoogleWorkspace]
            .into_iter()
            .find(|p| p.as_str() == raw)
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Platform::Microsoft365 => "Microsoft 365",
            Platform::GoogleWorkspace => "Google Workspace",
        }
    }

    pub fn provider(self) -> Provider {
        match self {
            Platform::Microsoft365 => Provider::Microsoft,
            Platform::GoogleWorkspace => Provider::Google,
        }
    }
}

/// Whose sign-in and consent an account goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Microsoft,
    Google,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Microsoft => "microsoft",
            Provider::Google => "google",
        }
    }
}

/// Who manages the SaaS account: the partner, or the client itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ManagedBy {
    Partner,
    Client,
}

/// A Microsoft Entra tenant ID: a GUID, lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(raw: &str) -> Option<Self> {
        uuid::Uuid::parse_str(raw.trim()).ok().map(|u| Self(u.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tenant as a partner may pre-enter it: its ID, or a verified domain
/// (`contoso.onmicrosoft.com`, `example.org`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum TenantRef {
    Id(TenantId),
    Domain(String),
}

/// Stored as the plain string; a GUID reads back as an ID, anything else as a domain (an
/// untagged derive would read every string as an ID).
impl<'de> Deserialize<'de> for TenantRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(TenantId::parse(&s).map_or(Self::Domain(s), Self::Id))
    }
}

impl TenantRef {
    pub fn parse(field: &'static str, raw: &str, platform: Platform) -> Result<Self, FieldError> {
        if raw.chars().any(char::is_control) {
            return Err(FieldError::new(
                field,
                "must not contain line breaks or control characters",
            ));
        }
        let s = raw.trim().to_lowercase();
        if let Some(id) = TenantId::parse(&s) {
            if platform == Platform::GoogleWorkspace {
                return Err(FieldError::new(field, "must be the Workspace's primary domain"));
            }
            return Ok(Self::Id(id));
        }
        let ok = s.len() <= 253
            && s.contains('.')
            && s.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if ok {
            Ok(Self::Domain(s))
        } else {
            Err(FieldError::new(
                field,
                "must be a tenant ID (GUID) or a domain such as contoso.onmicrosoft.com",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            TenantRef::Id(id) => id.as_str(),
            TenantRef::Domain(d) => d,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_refs_round_trip_through_json() {
        for raw in ["contoso.onmicrosoft.com", "11111111-1111-4111-8111-111111111111"] {
            let t = TenantRef::parse("tenant", raw, Platform::Microsoft365).unwrap();
            let back: TenantRef = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
            assert_eq!(back, t);
        }
    }

    #[test]
    fn tenant_refs() {
        let id = TenantRef::parse(
            "tenant",
            " 7F3C2A10-0000-4000-8000-00000000C0DE ",
            Platform::Microsoft365,
        )
        .unwrap();
        assert_eq!(id.as_str(), "7f3c2a10-0000-4000-8000-00000000c0de");
        assert!(
            matches!(TenantRef::parse("t", "Contoso.OnMicrosoft.com", Platform::Microsoft365), Ok(TenantRef::Domain(d)) if d == "contoso.onmicrosoft.com")
        );
        for bad in ["", "contoso", "a b.com", "x/../y.com", "-a.com", "evil.com\r\n"] {
            assert!(TenantRef::parse("t", bad, Platform::Microsoft365).is_err(), "{bad:?}");
        }
        assert!(TenantRef::parse("t", "7f3c2a10-0000-4000-8000-00000000c0de", Platform::GoogleWorkspace).is_err());
    }

    #[test]
    fn platforms_parse_back_from_their_names_only() {
        for p in [Platform::Microsoft365, Platform::GoogleWorkspace] {
            assert_eq!(Platform::parse(p.as_str()), Some(p));
        }
        assert_eq!(Platform::parse("Microsoft365"), None);
        assert_eq!(Platform::parse(""), None);
    }
}
