package subscription

import (
	"strings"
	"time"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Record kinds.
const (
	KindLicense    storage.Kind = "subscription_license"    // Unique: SHA-256 of the license key
	KindAssignment storage.Kind = "subscription_assignment" // ID: type|consumer kind|consumer id; Parent: license
	KindSettings   storage.Kind = "subscription_settings"   // one per tenant, ID "settings"
	KindUser       storage.Kind = "subscription_user"       // a user's pool settings, ID: user
	KindCompany    storage.Kind = "subscription_company"    // a customer company's license settings, ID: company
	KindCharge     storage.Kind = "subscription_charge"     // a purchase or renewal cost, Parent: license
)

// Event types.
const (
	EventPurchased           eventlog.Type = "subscription.purchased"
	EventTrialStarted        eventlog.Type = "subscription.trial_started"
	EventActivated           eventlog.Type = "subscription.activated"
	EventTrialConverted      eventlog.Type = "subscription.trial_converted"
	EventAutoRenewChanged    eventlog.Type = "subscription.auto_renew_changed"
	EventRenewed             eventlog.Type = "subscription.renewed"
	EventExpired             eventlog.Type = "subscription.expired"
	EventAssigned            eventlog.Type = "subscription.assigned"
	EventUnassigned          eventlog.Type = "subscription.unassigned"
	EventExchanged           eventlog.Type = "subscription.exchanged"
	EventExchangeUnavailable eventlog.Type = "subscription.exchange_unavailable"
	EventBulkDeleted         eventlog.Type = "subscription.bulk_deleted"
	EventSettingsChanged     eventlog.Type = "subscription.settings_changed"
	EventPoolSettingsChanged eventlog.Type = "subscription.pool_settings_changed"
)

// Type is a subscription license type: what one license covers (a computer,
// a virtual host, a socket, a user or an administrator), as in MSP360 Managed
// Backup.
type Type string

// License types and the allocation metric each maps to (Type.Metric):
//
//   - PerComputer → license.InstalledInstance: one license per computer the
//     backup agent is installed on.
//   - PerHost → license.PhysicalServer: one license per virtualisation host.
//   - PerSocket → license.PhysicalCPU: one license per CPU socket of a host.
//   - PerUser → license.NamedUser: one license per Google Workspace or
//     Microsoft 365 user.
//   - PerAdministrator → license.NamedUser: the license belongs to one named
//     administrator, who may open an unlimited number of remote connections.
//     license.ConcurrentUser would count simultaneous sessions, which is exactly
//     what this license does not limit.
const (
	PerComputer      Type = "computer"
	PerHost          Type = "host"
	PerSocket        Type = "socket"
	PerUser          Type = "user"
	PerAdministrator Type = "administrator"
)

// Types lists the license types in display order.
var Types = []Type{PerComputer, PerHost, PerSocket, PerUser, PerAdministrator}

// Valid reports whether t is a known type.
func (t Type) Valid() bool {
	switch t {
	case PerComputer, PerHost, PerSocket, PerUser, PerAdministrator:
		return true
	}
	return false
}

// Metric returns the allocation metric of the license package the type counts by.
func (t Type) Metric() license.Metric {
	switch t {
	case PerComputer:
		return license.InstalledInstance
	case PerHost:
		return license.PhysicalServer
	case PerSocket:
		return license.PhysicalCPU
	case PerUser, PerAdministrator:
		return license.NamedUser
	}
	return ""
}

// ConsumerKind returns what a license of type t is assigned to: a user for
// per-user and per-administrator licenses, a computer otherwise.
func (t Type) ConsumerKind() ConsumerKind {
	if t.Metric() == license.NamedUser {
		return ConsumerUser
	}
	return ConsumerComputer
}

// ParseType accepts "computer", "per computer", "per-computer" and so on, in any case.
func ParseType(s string) (Type, error) {
	k := strings.NewReplacer(" ", "", "-", "", "_", "").Replace(strings.ToLower(strings.TrimSpace(s)))
	k = strings.TrimPrefix(k, "per")
	if t := Type(k); t.Valid() {
		return t, nil
	}
	return "", license.Errorf(license.Invalid, "type", "unknown license type %q: use computer, host, socket, user or administrator", s)
}

// State is a license's state.
type State string

// States.
const (
	Trial   State = "trial"
	Active  State = "active"
	Expired State = "expired"
)

// BillingPeriod is how often paid licenses renew. A company chooses it at its
// first purchase; it is fixed afterwards.
type BillingPeriod string

// Billing periods.
const (
	Monthly BillingPeriod = "monthly"
	Yearly  BillingPeriod = "yearly"
)

// Valid reports whether p is Monthly or Yearly.
func (p BillingPeriod) Valid() bool { return p == Monthly || p == Yearly }

// Months returns the calendar months of one period.
func (p BillingPeriod) Months() int {
	if p == Yearly {
		return 12
	}
	return 1
}

// RenewalDate returns the end of the n-th period (n >= 1) of a subscription
// anchored at anchor. Periods are counted from the anchor, not chained, so a
// monthly subscription bought on 31 January renews on 28 (or 29) February,
// then on 31 March, 30 April, 31 May: the day of the month returns to the
// anchor's whenever the month has it (the behaviour of Stripe's billing cycle
// anchor). A yearly one bought on 29 February renews on 28 February and again
// on 29 February in the next leap year. The time of day is kept; all in UTC.
func (p BillingPeriod) RenewalDate(anchor time.Time, n int) time.Time {
	return license.AddMonths(anchor, n*p.Months())
}

// ConsumerKind is what a license is assigned to.
type ConsumerKind string

// Consumer kinds.
const (
	ConsumerUser     ConsumerKind = "user"
	ConsumerComputer ConsumerKind = "computer"
)

// consumerKind is what c is: a computer when it names an asset, else a user.
func consumerKind(c license.Consumer) ConsumerKind {
	if c.AssetID() != "" {
		return ConsumerComputer
	}
	return ConsumerUser
}

// consumerID names c: its asset for a computer, its user for a user.
func consumerID(c license.Consumer) string {
	if a := c.AssetID(); a != "" {
		return a
	}
	return c.User
}

// License is one subscription license.
type License struct {
	ID      string         `json:"id"`
	Company string         `json:"company"`
	Type    Type           `json:"type"`
	Metric  license.Metric `json:"metric"`
	State   State          `json:"state"`
	// Trial licenses have no billing period and never renew.
	Trial  bool          `json:"trial"`
	Period BillingPeriod `json:"billing_period,omitempty"`
	// PurchaseDate is when the license was bought (or the trial started); it is
	// also the renewal anchor.
	PurchaseDate time.Time `json:"purchase_date"`
	// Renewals counts the periods renewed after the first.
	Renewals int `json:"renewals"`
	// ExpirationDate is the last instant the license is valid: it renews or
	// expires just after it. A trial's is the last nanosecond of its last day.
	ExpirationDate time.Time `json:"expiration_date"`
	// AutoRenew is on by default. A license whose renewal was cancelled
	// expires at its expiration date.
	AutoRenew   bool              `json:"auto_renew"`
	NextRenewal *time.Time        `json:"next_renewal,omitempty"` // nil when auto-renewal is off, for trials and once expired
	Activated   bool              `json:"activated"`
	ActivatedAt *time.Time        `json:"activated_at,omitempty"`
	UnitPrice   *license.Money    `json:"unit_price,omitempty"` // price of one period; nil for trials
	Assignee    *license.Consumer `json:"assignee,omitempty"`   // User (and Asset for a computer)
	ExpiredAt   *time.Time        `json:"expired_at,omitempty"`
	// ConvertedTo names the paid license a trial was converted into.
	ConvertedTo string `json:"converted_to,omitempty"`
	// ExchangeFailed is set when the license expired while assigned and no
	// license was available for the exchange (the event is written once).
	ExchangeFailed bool   `json:"exchange_failed,omitempty"`
	KeyHash        string `json:"key_hash"` // hex SHA-256 of the license key; the key itself is never stored
}

// ValidAt reports whether the license can be used at t: activated, not expired
// and not past its expiration date.
func (l License) ValidAt(t time.Time) bool {
	return l.Activated && l.State != Expired && !t.After(l.ExpirationDate)
}

// paid reports whether the license counts against a user pool's limit.
func (l License) paid() bool { return !l.Trial }

// Settings are a tenant's subscription settings.
type Settings struct {
	// Period is chosen at the first purchase and fixed afterwards ("" before).
	Period BillingPeriod `json:"billing_period,omitempty"`
	// AutoExchange moves the assignment of an expired license to an available
	// license of the same type from the global pool. On by default.
	AutoExchange bool `json:"auto_exchange"`
}

// PoolMode says where a user's licenses come from.
type PoolMode string

// Pool modes.
const (
	// GlobalPool: any available license of the company, without limit (the default).
	GlobalPool PoolMode = "global"
	// UserPool: at most Limit paid licenses active for the user at a time.
	UserPool PoolMode = "user"
)

// Allocation is how licenses are allocated to a user.
type Allocation struct {
	Mode  PoolMode `json:"mode"`
	Limit int      `json:"limit"` // UserPool only: paid licenses the user may activate
}

// UserSettings are one user's license allocation settings.
type UserSettings struct {
	User string `json:"user"`
	// Company is the customer company the user belongs to ("" for none). When
	// that company has license settings, they apply instead of Allocation.
	Company    string     `json:"company,omitempty"`
	Allocation Allocation `json:"allocation"`
}

// CompanySettings are a customer company's license settings: they apply to all
// of its users, overriding their own.
type CompanySettings struct {
	Company    string     `json:"company"`
	Allocation Allocation `json:"allocation"`
}

// Charge is the cost of a purchase or a renewal: a record an invoice reads.
type Charge struct {
	ID      string        `json:"id"`
	Company string        `json:"company"`
	License string        `json:"license"`
	Type    Type          `json:"type"`
	Reason  string        `json:"reason"` // "purchase" or "renewal"
	Period  BillingPeriod `json:"billing_period"`
	From    time.Time     `json:"from"`
	To      time.Time     `json:"to"`
	Amount  license.Money `json:"amount"`
	At      time.Time     `json:"at"`
}
