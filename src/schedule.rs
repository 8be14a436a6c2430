//! Auto-add times: a local wall-clock time (`run_at`, `HH:MM`) in an IANA time zone, turned
//! into UTC instants with chrono-tz, right across daylight-saving changes:
//! - a time that does not exist that day (the spring-forward gap, e.g. 02:30 in New York on
//!   2026-03-08) runs at the first instant after the gap (03:00 local), that same day;
//! - a time that occurs twice (fall-back, e.g. 01:30 in New York on 2026-11-01) runs once, at
//!   the earlier instant.

use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("must be a time of day as HH:MM, from 00:00 to 23:59")]
    RunAt,
    #[error("must be an IANA time zone such as Australia/Sydney")]
    Timezone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAt(NaiveTime);

impl RunAt {
    pub fn parse(s: &str) -> Result<Self, ScheduleError> {
        let b = s.as_bytes();
        // Digits only: `u32::from_str` alone would take "+1:+5".
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        if b.len() != 5 || b[2] != b':' || !digits(0..2) || !digits(3..5) {
            return Err(ScheduleError::RunAt);
        }
        let h: u32 = s[..2].parse().map_err(|_| ScheduleError::RunAt)?;
        let m: u32 = s[3..].parse().map_err(|_| ScheduleError::RunAt)?;
        NaiveTime::from_hms_opt(h, m, 0).map(Self).ok_or(ScheduleError::RunAt)
    }
    pub fn as_time(&self) -> NaiveTime {
        self.0
    }
}

impl std::fmt::Display for RunAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%H:%M"))
    }
}

/// `run_at`'s schema: `HH:MM` from 00:00 to 23:59, or `null` for the default.
pub fn run_at_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, SchemaType, Type};
    AnyOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(SchemaType::new(Type::Null)))
        .item(
            ObjectBuilder::new()
                .schema_type(SchemaType::new(Type::String))
                .pattern(Some("^([01][0-9]|2[0-3]):[0-5][0-9]$"))
                .examples(["20:00"]),
        )
        .into()
}

/// `timezone`'s schema: an IANA name chrono-tz knows, or `null` for the default.
pub fn zone_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, SchemaType, Type};
    AnyOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(SchemaType::new(Type::Null)))
        .item(
            ObjectBuilder::new()
                .schema_type(SchemaType::new(Type::String))
                .enum_values(Some(chrono_tz::TZ_VARIANTS.iter().map(|z| z.name())))
                .examples(["Australia/Sydney"]),
        )
        .into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone(chrono_tz::Tz);

impl Zone {
    pub fn parse(s: &str) -> Result<Self, ScheduleError> {
        s.parse::<chrono_tz::Tz>()
            .map(Self)
            .map_err(|_| ScheduleError::Timezone)
    }
    pub fn name(&self) -> &'static str {
        self.0.name()
    }
    pub fn tz(&self) -> chrono_tz::Tz {
        self.0
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyAt {
    pub run_at: RunAt,
    pub zone: Zone,
}

impl Default for DailyAt {
    fn default() -> Self {
        Self {
            run_at: RunAt(NaiveTime::from_hms_opt(20, 0, 0).unwrap_or_default()),
            zone: Zone(chrono_tz::Australia::Sydney),
        }
    }
}

impl DailyAt {
    pub fn next_after(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let tz = self.zone.0;
        let mut day = now.with_timezone(&tz).date_naive();
        for _ in 0..4 {
            let local = day.and_time(self.run_at.0);
            let at = match tz.from_local_datetime(&local) {
                chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
                chrono::LocalResult::None => {
                    // In a gap: the first local minute after it (gaps are whole minutes).
                    let mut later = local;
                    loop {
                        later += chrono::Duration::minutes(1);
                        if let Some(t) = tz.from_local_datetime(&later).earliest() {
                            break t.with_timezone(&Utc);
                        }
                        if later - local > chrono::Duration::hours(3) {
                            break now;
                        }
                    }
                }
            };
            if at > now {
                return at;
            }
            day = day.checked_add_days(Days::new(1)).unwrap_or(day);
        }
        now + chrono::Duration::days(1)
    }
}

impl serde::Serialize for RunAt {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RunAt {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RunAt::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Zone::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(run_at: &str, zone: &str) -> DailyAt {
        DailyAt {
            run_at: RunAt::parse(run_at).unwrap(),
            zone: Zone::parse(zone).unwrap(),
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn sydney_8pm_across_daylight_saving_start_and_end() {
        let d = DailyAt::default();
        assert_eq!(
            (d.run_at.to_string(), d.zone.to_string()),
            ("20:00".into(), "Australia/Sydney".into())
        );
        // AEST (+10) until Sunday 2026-10-04 02:00, then AEDT (+11).
        assert_eq!(d.next_after(utc("2026-10-03T09:00:00Z")), utc("2026-10-03T10:00:00Z"));
        assert_eq!(d.next_after(utc("2026-10-03T10:00:00Z")), utc("2026-10-04T09:00:00Z"));
        // Back to AEST on Sunday 2027-04-04 03:00.
        assert_eq!(d.next_after(utc("2027-04-03T09:30:00Z")), utc("2027-04-04T10:00:00Z"));
        // 02:30 does not exist in Sydney on 2026-10-04: the first instant after the gap.
        assert_eq!(
            at("02:30", "Australia/Sydney").next_after(utc("2026-10-03T12:00:00Z")),
            utc("2026-10-03T16:00:00Z")
        );
    }

    #[test]
    fn new_york_across_spring_forward_and_fall_back() {
        let eight = at("20:00", "America/New_York");
        assert_eq!(
            eight.next_after(utc("2026-03-07T12:00:00Z")),
            utc("2026-03-08T01:00:00Z")
        );
        assert_eq!(
            eight.next_after(utc("2026-03-08T12:00:00Z")),
            utc("2026-03-09T00:00:00Z")
        );
        assert_eq!(
            eight.next_after(utc("2026-11-01T12:00:00Z")),
            utc("2026-11-02T01:00:00Z")
        );
        // The gap: 02:30 on 2026-03-08 runs at 03:00 EDT.
        assert_eq!(
            at("02:30", "America/New_York").next_after(utc("2026-03-08T05:00:00Z")),
            utc("2026-03-08T07:00:00Z")
        );
        // The repeated hour: 01:30 on 2026-11-01 runs once, at the first (EDT) one...
        let half = at("01:30", "America/New_York");
        assert_eq!(
            half.next_after(utc("2026-11-01T04:00:00Z")),
            utc("2026-11-01T05:30:00Z")
        );
        // ...and not again at the second: next is the next day's.
        assert_eq!(
            half.next_after(utc("2026-11-01T05:45:00Z")),
            utc("2026-11-02T06:30:00Z")
        );
    }

    #[test]
    fn exactly_at_a_run_gives_the_next_days() {
        let d = at("07:00", "UTC");
        assert_eq!(d.next_after(utc("2026-11-24T07:00:00Z")), utc("2026-11-25T07:00:00Z"));
    }

    #[test]
    fn bad_times_and_zones_are_refused() {
        for bad in [
            "25:00", "24:00", "7:05", "07:5", "", "20:60", " 20:00", "20:00:00", "8pm", "+1:30", "01:+5", "+1:+5",
        ] {
            assert_eq!(RunAt::parse(bad), Err(ScheduleError::RunAt), "{bad:?}");
        }
        for bad in ["Mars/Olympus", "", "Sydney", "+10:00"] {
            assert_eq!(Zone::parse(bad), Err(ScheduleError::Timezone), "{bad:?}");
        }
        assert!(Zone::parse("UTC").is_ok() && Zone::parse("America/New_York").is_ok());
        assert!(serde_json::from_str::<Zone>("\"Mars/Olympus\"").is_err());
        assert!(serde_json::from_str::<RunAt>("\"25:00\"").is_err());
        let z: Zone = serde_json::from_str("\"Europe/London\"").unwrap();
        assert_eq!(serde_json::to_string(&z).unwrap(), "\"Europe/London\"");
    }

    proptest! {
        #[test]
        fn the_next_run_is_soon_after_and_at_the_local_time(
            secs in 1_735_689_600i64..1_893_456_000i64,
            h in 0u32..24, m in 0u32..60, z in 0usize..5,
        ) {
            let zone = ["Australia/Sydney", "America/New_York", "Europe/London", "Asia/Kolkata", "Pacific/Chatham"][z];
            let d = at(&format!("{h:02}:{m:02}"), zone);
            let now = DateTime::from_timestamp(secs, 0).unwrap();
            let next = d.next_after(now);
            prop_assert!(next > now);
            prop_assert!(next - now < chrono::Duration::hours(26));
            let local = next.with_timezone(&d.zone.tz()).time();
            let exists = d.zone.tz().from_local_datetime(&next.with_timezone(&d.zone.tz()).date_naive().and_time(d.run_at.as_time())).earliest().is_some();
            prop_assert!(!exists || local == d.run_at.as_time(), "{next} local {local}");
        }
    }
}

#[cfg(test)]
mod serde_tests {
    use super::{RunAt, Zone};

    #[test]
    fn stored_times_and_zones_round_trip_and_corrupt_ones_are_errors() {
        let at: RunAt = serde_json::from_str("\"20:00\"").unwrap();
        assert_eq!(serde_json::to_string(&at).unwrap(), "\"20:00\"");
        let zone: Zone = serde_json::from_str("\"Australia/Sydney\"").unwrap();
        assert_eq!(serde_json::to_string(&zone).unwrap(), "\"Australia/Sydney\"");
        assert!(serde_json::from_str::<RunAt>("\"8pm\"").is_err());
        assert!(serde_json::from_str::<Zone>("\"Mars/Olympus\"").is_err());
    }
}
