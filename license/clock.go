package license

import "time"

// Clock tells the current time. Services read it once per operation; stores and
// domain code never call time.Now directly. Implementations return UTC.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock, in UTC.
type SystemClock struct{}

// Now returns time.Now in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// EndOfDay returns the last nanosecond of the UTC calendar day of t: a date-only
// expiry ("valid until 2026-03-31") means the end of that day in UTC.
func EndOfDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1).Add(-time.Nanosecond)
}

// AddMonths adds n calendar months to t, clamping to the last day of the target
// month: 31 January + 1 month is the last day of February (28 or 29), never 3 March.
// The time of day is kept. The result is in UTC.
func AddMonths(t time.Time, n int) time.Time {
	t = t.UTC()
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(n), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	if d > last {
		d = last
	}
	return time.Date(first.Year(), first.Month(), d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// AddYears adds n calendar years, clamping 29 February to 28 February in a
// non-leap target year.
func AddYears(t time.Time, n int) time.Time { return AddMonths(t, 12*n) }
