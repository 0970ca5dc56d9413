package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"strings"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/topup"
)

// SMTP sends top-up notifications as e-mail through an SMTP server, one
// message per notification addressed to all its recipients. Addr and From are
// required. It is safe for concurrent use.
type SMTP struct {
	Addr string // host:port of the submission server, e.g. "smtp.example.com:587"
	From string // envelope and header sender, a bare address
	// Auth, when set, authenticates after STARTTLS (net/smtp's PlainAuth refuses
	// to send credentials over an unencrypted connection except to localhost).
	Auth smtp.Auth
	// TLSConfig is used for STARTTLS; nil means a default config for the
	// server's host name.
	TLSConfig *tls.Config
	// RequireTLS refuses to send when the server does not offer STARTTLS.
	RequireTLS bool
	// LocalName is the name sent in EHLO (default "localhost").
	LocalName string
	// Timeout bounds one delivery, connection included (default 30s); the
	// context's deadline applies when it is earlier.
	Timeout time.Duration
	// Clock gives the Date header (default license.SystemClock).
	Clock license.Clock
}

var _ topup.Notifier = (*SMTP)(nil)

// Notify sends n to n.Recipients. Any failure (connection, TLS, a rejected
// recipient, a cancelled context) is returned, so the dispatcher retries the
// whole message later.
func (s *SMTP) Notify(ctx context.Context, n topup.Notification) error {
	if len(n.Recipients) == 0 {
		return nil
	}
	from, err := license.ParseEmail(s.From)
	if err != nil {
		return fmt.Errorf("notify: smtp sender: %w", err)
	}
	to := make([]string, 0, len(n.Recipients))
	for _, r := range n.Recipients {
		addr, err := license.ParseEmail(r)
		if err != nil {
			return fmt.Errorf("notify: smtp recipient: %w", err)
		}
		to = append(to, addr)
	}
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return fmt.Errorf("notify: smtp address %q: %w", s.Addr, err)
	}
	msg, err := s.message(from, to, n)
	if err != nil {
		return err
	}

	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("notify: smtp dial %s: %w", s.Addr, err)
	}
	defer conn.Close()
	// The context's end (cancel or deadline) interrupts a conversation blocked
	// on the network; ctx.Err() is set by then, so the error names it.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if err := s.converse(conn, host, from, to, msg); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("notify: smtp %s: %w (%v)", s.Addr, ctx.Err(), err)
		}
		return fmt.Errorf("notify: smtp %s: %w", s.Addr, err)
	}
	return nil
}

func (s *SMTP) converse(conn net.Conn, host, from string, to []string, msg []byte) error {
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return err
	}
	defer c.Close()
	local := s.LocalName
	if local == "" {
		local = "localhost"
	}
	if err := c.Hello(local); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := s.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(cfg); err != nil {
			return err
		}
	} else if s.RequireTLS {
		return fmt.Errorf("the server does not offer STARTTLS and RequireTLS is set")
	}
	if s.Auth != nil {
		if err := c.Auth(s.Auth); err != nil {
			return err
		}
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return fmt.Errorf("recipient %s: %w", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// message builds the RFC 5322 message: plain text, UTF-8, quoted-printable,
// with the notification ID as Message-ID so that a repeated delivery can be
// recognised.
func (s *SMTP) message(from string, to []string, n topup.Notification) ([]byte, error) {
	now := time.Now().UTC()
	if s.Clock != nil {
		now = s.Clock.Now().UTC()
	}
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, headerSafe(v)) }
	header("From", from)
	header("To", strings.Join(to, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", n.Subject()))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+n.ID+"@topup.licensekit>")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(n.Body(), "\n", "\r\n"))); err != nil {
		return nil, fmt.Errorf("notify: encode message: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("notify: encode message: %w", err)
	}
	return b.Bytes(), nil
}

// headerSafe removes CR and LF so that no value can add a header.
func headerSafe(v string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
}
