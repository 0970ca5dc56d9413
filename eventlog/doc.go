// Package eventlog is the audit log of licensekit. Every change to pools, sites,
// top-up settings, volume licenses and subscriptions appends an [Event] in the same
// storage transaction as the change, so no change exists without its event and no
// event without its change. The package queries the log (search over the visible
// columns, sort by any column, stable cursor paging, column choice) and exports it
// to CSV, either the current view or all original data, streaming with flat memory
// and neutralising spreadsheet formulas.
package eventlog
