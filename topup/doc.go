// Package topup is the automatic top-up of site licenses of an MSP company:
// a company-wide switch ([Service.Enable],
// refused with a [PrerequisiteError] unless every site pays by monthly invoice
// and all sites share one site group, and recording the accepted terms
// version); a per-site increment (5 by default, multiples of 5); an [Overflow] policy that
// billing calls inside the enrolment's transaction so that an enrolment beyond a
// site's licenses adds the smallest multiple of the increment covering the
// shortfall, charged on the next invoice estimate as a purchase adjustment, with
// a pure preview ([QuoteEnrolment], [Service.Preview]) that the commit shares; and
// e-mail notification recipients per company. Each top-up writes its event and
// an outbox record in the same transaction; a [Dispatcher] delivers the outbox
// after commit through a [Notifier] with bounded, backed-off retries, so a
// committed top-up is never silently lost and a rolled-back one never notifies.
// A site with no license amount set accepts any enrolment and is never topped
// up; a site that no longer pays by monthly invoice is not topped up either
// (its enrolment is refused as without top-up).
package topup
