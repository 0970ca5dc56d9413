// Package volume manages a partner's volume licenses and the customer accounts
// allocated seats on them. A partner company (the
// tenant, license.Actor.Company) holds volume licenses — a product such as
// "MDR Complete", a number of seats, a renewal date and a price per user — and
// onboards customer accounts (legal name unique within the partner, ignoring
// case and spacing) with a seat allocation on one or more of them (a main
// license and a cloud add-on); it edits their allocations or legal name and
// offboards them, which returns their seats to unallocated. Allocations never
// exceed a license's seats (insufficient_licenses; nor can [Service.SetSeats]
// shrink a license below them), and a reduction below the usage the product
// reported ([Service.ReportUsage]) is refused (below_enrolled). The license page
// ([Service.Page]) shows the metrics (seats, allocated, unallocated, renewal
// date, price per user, customers) over a searchable, sortable customer table,
// which exports to CSV and Excel with spreadsheet formulas neutralised. Every
// change is one storage transaction that writes its event in the same
// transaction.
package volume
