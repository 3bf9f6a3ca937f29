//! The clock. The database keeps every time as Unix milliseconds (UTC); people and the API
//! read ISO 8601 UTC text ([`utc_text`]).

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Unix time in seconds.
pub fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// One day in milliseconds.
pub const DAY_MS: i64 = 24 * 3600 * 1000;

/// `2026-11-27T05:12:00Z` for a time in Unix milliseconds.
pub fn utc_text(ms: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => String::new(),
    }
}

/// Days from today (UTC) to a `YYYY-MM-DD` date, negative once past; none for another text.
pub fn days_until(date: &str) -> Option<i64> {
    let (y, m, d) = app::domain::parse_date(date)?;
    let date = time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()?;
    Some((date - time::OffsetDateTime::now_utc().date()).whole_days())
}

#[cfg(test)]
mod tests {
    use super::utc_text;

    #[test]
    fn milliseconds_read_as_utc_text() {
        assert_eq!(utc_text(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_text(1_795_000_000_123), "2026-11-18T11:06:40Z");
        assert_eq!(utc_text(-1), "1969-12-31T23:59:59Z");
    }
}
