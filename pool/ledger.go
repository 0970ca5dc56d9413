package pool

import (
	"time"

	"github.com/licensekit/licensekit/license"
)

// TxKind is the kind of a license transaction.
type TxKind string

// License transaction kinds. Purchase, rental period and reassign change the
// pool's total; maintenance and upgrade are recorded for the lifecycle but do not.
const (
	TxPurchase     TxKind = "purchase"      // perpetual pools: Count licenses bought on Date
	TxRentalPeriod TxKind = "rental_period" // rental pools: Count licenses for Period
	TxMaintenance  TxKind = "maintenance"   // maintenance bought for Period
	TxUpgrade      TxKind = "upgrade"       // Count licenses upgraded
	TxReassignOut  TxKind = "reassign_out"  // Count licenses moved to Counterpart
	TxReassignIn   TxKind = "reassign_in"   // Count licenses moved in from Counterpart
)

// Transaction is one line of a pool's license ledger. Transactions are never
// deleted; the total at any time is derived from them (TotalAt).
type Transaction struct {
	ID          string         `json:"id"`
	Kind        TxKind         `json:"kind"`
	Date        time.Time      `json:"date"`                 // purchase/order date (UTC)
	Period      license.Period `json:"period,omitzero"`      // rental and maintenance
	Count       int64          `json:"count"`                // licenses
	UnitPrice   *license.Money `json:"unit_price,omitempty"` // nil when not given or not visible to the caller
	OrderNumber string         `json:"order_number,omitempty"`
	Note        string         `json:"note,omitempty"`
	Counterpart string         `json:"counterpart,omitempty"` // the other pool of a reassign
	Actor       string         `json:"actor"`
	Recorded    time.Time      `json:"recorded"`
	// Status is filled in when a pool is read (see StatusAt); it is not stored.
	Status TxStatus `json:"status,omitempty"`
}

// TxStatus is the status of a license transaction at a moment.
type TxStatus string

// Transaction statuses.
const (
	TxUpcoming TxStatus = "upcoming" // its date or period has not started
	TxActive   TxStatus = "active"   // in effect
	TxEnded    TxStatus = "ended"    // its period has ended (rental, maintenance)
)

// StatusAt returns the status of t at time at: rental periods and maintenance
// are upcoming, active or ended by their period; other transactions are
// upcoming before their date and active from it. It is pure.
func (t Transaction) StatusAt(at time.Time) TxStatus {
	if t.Kind == TxRentalPeriod || t.Kind == TxMaintenance {
		switch {
		case at.Before(t.Period.Start):
			return TxUpcoming
		case t.Period.Ended(at):
			return TxEnded
		}
		return TxActive
	}
	if at.Before(t.Date) {
		return TxUpcoming
	}
	return TxActive
}

// Counts reports the licenses of a pool at a moment (the item status pane).
// Allocated + Quarantined + Available == Total + Shortfall always holds, and
// Shortfall > 0 only when Available == 0.
type Counts struct {
	Total                  int64 `json:"total"`
	Quarantined            int64 `json:"quarantined"`
	Available              int64 `json:"available"`
	AllocatedAutomatically int64 `json:"allocated_automatically"`
	AllocatedManually      int64 `json:"allocated_manually"` // includes live concurrent-user leases
	Allocated              int64 `json:"allocated"`          // automatically + manually
	Shortfall              int64 `json:"shortfall"`          // held (allocated + quarantined) above the total
}

// Contributes returns how many licenses t adds to the total at time at
// (negative for a reassign out). It is pure.
func (t Transaction) Contributes(at time.Time) int64 {
	switch t.Kind {
	case TxPurchase, TxReassignIn:
		if !at.Before(t.Date) {
			return t.Count
		}
	case TxReassignOut:
		if !at.Before(t.Date) {
			return -t.Count
		}
	case TxRentalPeriod:
		if t.Period.Contains(at) {
			return t.Count
		}
	}
	return 0
}

// TotalAt derives the pool's total licenses at time at from its transactions:
// purchases and reassigns from their date, rental periods only while they run.
func TotalAt(txs []Transaction, at time.Time) int64 {
	var n int64
	for _, t := range txs {
		n += t.Contributes(at)
	}
	if n < 0 {
		return 0
	}
	return n
}

// QuarantinedAt sums the quarantine entries still running at time at.
func QuarantinedAt(q []QuarantineEntry, at time.Time) int64 {
	var n int64
	for _, e := range q {
		if at.Before(e.Until) {
			n += e.Units
		}
	}
	return n
}

// ComputeCounts derives the status-pane counts from a pool's records: its
// transactions, its quarantine, its allocation units (automatic and manual) and
// its live leases. It is pure.
func ComputeCounts(total, quarantined, allocAuto, allocManual, liveLeases int64) Counts {
	c := Counts{
		Total:                  total,
		Quarantined:            quarantined,
		AllocatedAutomatically: allocAuto,
		AllocatedManually:      allocManual + liveLeases,
	}
	c.Allocated = c.AllocatedAutomatically + c.AllocatedManually
	held := c.Allocated + c.Quarantined
	if held > total {
		c.Shortfall = held - total
	} else {
		c.Available = total - held
	}
	return c
}

// CheckCapacity decides whether units more licenses can be allocated given c.
// It returns nil, an InsufficientLicenses error (none free, or a shortfall), or a
// Quarantined error when the licenses that would be free are held in quarantine.
// It is pure, for reuse by validation front ends.
func CheckCapacity(c Counts, units int64) error {
	if c.Available >= units {
		return nil
	}
	if c.Shortfall > 0 {
		return license.Errorf(license.InsufficientLicenses, "pool", "the pool is short by %d license(s) (total %d, allocated %d, quarantined %d): buy licenses or release allocations first", c.Shortfall, c.Total, c.Allocated, c.Quarantined)
	}
	if c.Total-c.Allocated >= units {
		return license.Errorf(license.Quarantined, "pool", "%d license(s) needed: the free licenses are held in quarantine (%d) until their minimum allocation time ends", units, c.Quarantined)
	}
	return license.Errorf(license.InsufficientLicenses, "pool", "%d license(s) needed but only %d available (total %d, allocated %d, quarantined %d)", units, c.Available, c.Total, c.Allocated, c.Quarantined)
}

// MonthTotal is one point of the "licenses total per month" chart.
type MonthTotal struct {
	Month     string `json:"month"`     // "2026-01"
	Purchased int64  `json:"purchased"` // licenses bought or rented with a date in the month (reassigns net)
	Total     int64  `json:"total"`     // total at the end of the month (or now, for the current month)
}

// PurchasedPerMonth returns chart data from the month of the first transaction to
// the month of now, in calendar months.
func PurchasedPerMonth(txs []Transaction, now time.Time) []MonthTotal {
	now = now.UTC()
	var first time.Time
	for _, t := range txs {
		d := t.Date
		if t.Kind == TxRentalPeriod {
			d = t.Period.Start
		}
		if first.IsZero() || d.Before(first) {
			first = d
		}
	}
	if first.IsZero() {
		return nil
	}
	start := time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC)
	var out []MonthTotal
	for m := start; !m.After(now); m = license.AddMonths(m, 1) {
		next := license.AddMonths(m, 1)
		mt := MonthTotal{Month: m.Format("2006-01")}
		for _, t := range txs {
			d := t.Date
			if t.Kind == TxRentalPeriod {
				d = t.Period.Start
			}
			if d.Before(m) || !d.Before(next) {
				continue
			}
			switch t.Kind {
			case TxPurchase, TxRentalPeriod, TxReassignIn:
				mt.Purchased += t.Count
			case TxReassignOut:
				mt.Purchased -= t.Count
			}
		}
		at := next.Add(-time.Nanosecond)
		if at.After(now) {
			at = now
		}
		mt.Total = TotalAt(txs, at)
		out = append(out, mt)
		if len(out) > 1200 {
			break
		}
	}
	return out
}
