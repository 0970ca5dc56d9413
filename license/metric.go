package license

import (
	"encoding/json"
	"strings"
)

// Metric is how a pool's licenses are consumed (the "Licensed by" field of a pool).
type Metric string

// The five allocation metrics.
const (
	// NamedUser: one license per user, however many of the user's assets run the software.
	NamedUser Metric = "named_user"
	// InstalledInstance: one license per installation on an asset.
	InstalledInstance Metric = "installed_instance"
	// ConcurrentUser: at most N simultaneous users, tracked as leases with a heartbeat.
	ConcurrentUser Metric = "concurrent_user"
	// PhysicalServer: one license per server that runs the software.
	PhysicalServer Metric = "physical_server"
	// PhysicalCPU: one license per CPU of the server the software runs on.
	PhysicalCPU Metric = "physical_cpu"
)

// Metrics lists every metric in display order.
var Metrics = []Metric{NamedUser, InstalledInstance, ConcurrentUser, PhysicalServer, PhysicalCPU}

var metricNames = map[Metric]string{
	NamedUser:         "Named user",
	InstalledInstance: "Installed instance",
	ConcurrentUser:    "Concurrent user",
	PhysicalServer:    "Physical server",
	PhysicalCPU:       "Physical CPU",
}

// String returns the display name ("Named user").
func (m Metric) String() string {
	if n, ok := metricNames[m]; ok {
		return n
	}
	return string(m)
}

// Valid reports whether m is one of the five metrics.
func (m Metric) Valid() bool { _, ok := metricNames[m]; return ok }

// AssetBased reports whether the metric counts assets (installed instance,
// physical server, physical CPU): such pools may be restricted to a named company.
func (m Metric) AssetBased() bool {
	return m == InstalledInstance || m == PhysicalServer || m == PhysicalCPU
}

// ParseMetric accepts the code ("named_user"), the display name ("Named user"),
// or the display name without spaces, in any case.
func ParseMetric(s string) (Metric, error) {
	if m := Metric(s); m.Valid() {
		return m, nil // the stored code: the common case when decoding records
	}
	k := normalize(s)
	for m, name := range metricNames {
		if k == normalize(string(m)) || k == normalize(name) {
			return m, nil
		}
	}
	return "", Errorf(Invalid, "metric", "unknown metric %q: use one of named_user, installed_instance, concurrent_user, physical_server, physical_cpu", s)
}

// UnmarshalJSON parses with ParseMetric, so JSON input is validated.
func (m *Metric) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return Errorf(Invalid, "metric", "metric must be a string")
	}
	if s == "" {
		*m = ""
		return nil
	}
	v, err := ParseMetric(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Model is the license model of a pool.
type Model string

const (
	// Rental licenses have periods after which the right to use is revoked.
	Rental Model = "rental"
	// Perpetual licenses never expire once bought.
	Perpetual Model = "perpetual"
)

// Valid reports whether m is Rental or Perpetual.
func (m Model) Valid() bool { return m == Rental || m == Perpetual }

// String returns "Rental" or "Perpetual".
func (m Model) String() string {
	switch m {
	case Rental:
		return "Rental"
	case Perpetual:
		return "Perpetual"
	}
	return string(m)
}

// ParseModel accepts "rental" or "perpetual" in any case.
func ParseModel(s string) (Model, error) {
	switch normalize(s) {
	case "rental":
		return Rental, nil
	case "perpetual":
		return Perpetual, nil
	}
	return "", Errorf(Invalid, "model", "unknown license model %q: use rental or perpetual", s)
}

var separators = strings.NewReplacer(" ", "", "_", "", "-", "")

func normalize(s string) string {
	return separators.Replace(strings.ToLower(strings.TrimSpace(s)))
}
