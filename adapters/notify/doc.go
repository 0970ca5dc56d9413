// Package notify delivers licensekit notifications to the outside world: SMTP
// sends automatic top-up notifications as plain-text e-mail with net/smtp
// (STARTTLS when the server offers it, optional authentication), Log writes
// them to a log/slog logger, and Loop runs a topup.Dispatcher periodically in
// the background until its context is cancelled. SMTP and Log satisfy
// topup.Notifier; the dispatcher owns retries and backoff, so a notifier only
// reports whether one delivery attempt succeeded.
package notify
