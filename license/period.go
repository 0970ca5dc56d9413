package license

import "time"

// Period is a span of time [Start, End): it contains Start and ends just before
// End. A zero End means open-ended. Times are UTC.
type Period struct {
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
}

// Check validates the period: Start is required and End, when set, is after Start.
// field names the input in the returned error.
func (p Period) Check(field string) error {
	if p.Start.IsZero() {
		return Errorf(Invalid, field, "the period's start is required")
	}
	if !p.End.IsZero() && !p.End.After(p.Start) {
		return Errorf(Invalid, field, "the period must end (%s) after it starts (%s)", p.End.UTC().Format(time.RFC3339), p.Start.UTC().Format(time.RFC3339))
	}
	return nil
}

// Contains reports whether t lies in [Start, End).
func (p Period) Contains(t time.Time) bool {
	if t.Before(p.Start) {
		return false
	}
	return p.End.IsZero() || t.Before(p.End)
}

// Ended reports whether the period has a bounded end at or before t.
func (p Period) Ended(t time.Time) bool { return !p.End.IsZero() && !t.Before(p.End) }

// UTC returns the period with both ends in UTC.
func (p Period) UTC() Period {
	out := Period{Start: p.Start.UTC()}
	if !p.End.IsZero() {
		out.End = p.End.UTC()
	}
	return out
}
