package notify_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/adapters/notify"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage/memory"
	"github.com/licensekit/licensekit/topup"
)

// fakeSMTP is a minimal SMTP server that records each message. rejectRcpt
// makes it refuse that recipient; silent makes it accept the connection and
// never answer.
type fakeSMTP struct {
	ln         net.Listener
	rejectRcpt string
	silent     bool

	mu       sync.Mutex
	messages []smtpMessage
}

type smtpMessage struct {
	from string
	to   []string
	data string
}

func newFakeSMTP(t *testing.T, rejectRcpt string, silent bool) *fakeSMTP {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &fakeSMTP{ln: ln, rejectRcpt: rejectRcpt, silent: silent}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *fakeSMTP) addr() string { return s.ln.Addr().String() }

func (s *fakeSMTP) got() []smtpMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMessage(nil), s.messages...)
}

func (s *fakeSMTP) serve(c net.Conn) {
	defer c.Close()
	if s.silent {
		_, _ = io.Copy(io.Discard, c)
		return
	}
	r := bufio.NewReader(c)
	say := func(line string) { _, _ = io.WriteString(c, line+"\r\n") }
	say("220 fake ESMTP")
	var m smtpMessage
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		cmd := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250-fake")
			say("250 8BITMIME")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			from, _, _ := strings.Cut(line[len("MAIL FROM:"):], ">")
			m = smtpMessage{from: strings.TrimLeft(from, "< ")}
			say("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			rcpt := strings.Trim(line[len("RCPT TO:"):], "<> ")
			if rcpt == s.rejectRcpt {
				say("550 no such user")
				continue
			}
			m.to = append(m.to, rcpt)
			say("250 ok")
		case cmd == "DATA":
			say("354 go ahead")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			m.data = data.String()
			s.mu.Lock()
			s.messages = append(s.messages, m)
			s.mu.Unlock()
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("502 not implemented")
		}
	}
}

func sample() topup.Notification {
	return topup.Notification{
		ID: "0190a5c8-3f7e-7d3a-9c1e-0a1b2c3d4e5f", Company: "acme", Site: "s1", SiteName: "Helsinki Ä\r\nBcc: evil@x.example",
		Added: 5, Increment: 5, Shortfall: 2, Enrolling: 4, Enrolled: 12, PreviousTotal: 10, NewTotal: 15,
		At: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC), Recipients: []string{"owner@acme.example", "ops@partner.example"},
	}
}

func TestSMTPSends(t *testing.T) {
	srv := newFakeSMTP(t, "", false)
	n := &notify.SMTP{Addr: srv.addr(), From: "topup@licensekit.example",
		Clock: licensetest.NewClock(time.Date(2026, 11, 21, 10, 0, 5, 0, time.UTC))}
	require.NoError(t, n.Notify(context.Background(), sample()))
	msgs := srv.got()
	require.Len(t, msgs, 1)
	assert.Equal(t, "topup@licensekit.example", msgs[0].from)
	assert.Equal(t, []string{"owner@acme.example", "ops@partner.example"}, msgs[0].to)

	parsed, err := mail.ReadMessage(strings.NewReader(msgs[0].data))
	require.NoError(t, err)
	assert.Equal(t, "owner@acme.example, ops@partner.example", parsed.Header.Get("To"))
	assert.Empty(t, parsed.Header.Get("Bcc"), "a site name cannot inject a header")
	subject, err := new(mime.WordDecoder).DecodeHeader(parsed.Header.Get("Subject"))
	require.NoError(t, err)
	assert.Equal(t, "Automatic top-up: 5 licenses added to site Helsinki Ä Bcc: evil@x.example", subject)
	assert.Equal(t, "<0190a5c8-3f7e-7d3a-9c1e-0a1b2c3d4e5f@topup.licensekit>", parsed.Header.Get("Message-Id"))
	assert.Equal(t, "Sat, 21 Nov 2026 10:00:05 +0000", parsed.Header.Get("Date"))
	body, err := io.ReadAll(quotedprintable.NewReader(parsed.Body))
	require.NoError(t, err)
	for _, want := range []string{"Licenses added: 5", "Devices enrolled: 12", "Total licenses: 15", "Helsinki Ä"} {
		assert.Contains(t, string(body), want)
	}
}

func TestSMTPFailures(t *testing.T) {
	srv := newFakeSMTP(t, "ops@partner.example", false)
	n := &notify.SMTP{Addr: srv.addr(), From: "topup@licensekit.example"}
	err := n.Notify(context.Background(), sample())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ops@partner.example")
	assert.Empty(t, srv.got(), "a rejected recipient sends nothing")

	assert.Error(t, (&notify.SMTP{Addr: srv.addr(), From: "not an address"}).Notify(context.Background(), sample()))
	assert.Error(t, (&notify.SMTP{Addr: "no-port", From: "a@b.example"}).Notify(context.Background(), sample()))
	req := &notify.SMTP{Addr: newFakeSMTP(t, "", false).addr(), From: "a@b.example", RequireTLS: true}
	err = req.Notify(context.Background(), sample())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "STARTTLS")

	// A server that never answers: the context's deadline ends the attempt.
	silent := newFakeSMTP(t, "", true)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = (&notify.SMTP{Addr: silent.addr(), From: "a@b.example"}).Notify(ctx, sample())
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestLog(t *testing.T) {
	var buf bytes.Buffer
	l := notify.Log{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}
	require.NoError(t, l.Notify(context.Background(), sample()))
	var rec map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &rec))
	assert.Equal(t, "automatic top-up notification", rec["msg"])
	assert.Equal(t, "s1", rec["site"])
	assert.EqualValues(t, 5, rec["licenses_added"])
	assert.EqualValues(t, 12, rec["devices_enrolled"])
	assert.EqualValues(t, 15, rec["new_total"])
	assert.Equal(t, []any{"owner@acme.example", "ops@partner.example"}, rec["recipients"])
}

// countingNotifier counts deliveries and signals each one.
type countingNotifier struct {
	mu   sync.Mutex
	n    int
	sent chan struct{}
}

func (c *countingNotifier) Notify(context.Context, topup.Notification) error {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	select {
	case c.sent <- struct{}{}:
	default:
	}
	return nil
}

func (c *countingNotifier) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func TestLoopDeliversAndStops(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	bill := &billing.Service{Store: store, Overflow: topup.Overflow()}
	top := &topup.Service{Store: store}
	owner := license.Actor{Company: "acme", Email: "owner@acme.example", Role: license.Owner}
	_, err := bill.CreateCompany(ctx, owner, "Acme")
	require.NoError(t, err)
	zero := int64(0)
	s, err := bill.CreateSite(ctx, owner, billing.NewSite{Name: "A", Plan: "p", Group: "g", PaymentType: billing.MonthlyInvoice,
		UnitPrice: license.Zero("USD"), Licenses: &zero})
	require.NoError(t, err)
	_, err = top.Enable(ctx, owner, topup.EnableRequest{AcceptedTermsVersion: "1"})
	require.NoError(t, err)
	_, err = top.AddRecipients(ctx, owner, "ops@acme.example")
	require.NoError(t, err)

	cn := &countingNotifier{sent: make(chan struct{}, 10)}
	var logs syncWriter
	loop := &notify.Loop{Dispatcher: &topup.Dispatcher{Store: store, Notifier: cn}, Interval: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- loop.Run(runCtx) }()

	// A top-up committed while the loop runs is delivered at a later tick.
	_, err = bill.Enroll(ctx, owner, billing.EnrollRequest{Site: s.ID, Devices: 1})
	require.NoError(t, err)
	select {
	case <-cn.sent:
	case <-time.After(5 * time.Second):
		t.Fatal("the loop did not deliver the notification")
	}
	require.Eventually(t, func() bool {
		d, err := top.Outbox(ctx, owner, topup.StatusDelivered)
		return err == nil && len(d) == 1
	}, 5*time.Second, 5*time.Millisecond, "the delivery is recorded")
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "delivered=1") }, 5*time.Second, 5*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err, "a cancelled loop stops cleanly")
	case <-time.After(5 * time.Second):
		t.Fatal("the loop did not stop after cancel")
	}
	delivered := cn.count()
	assert.Equal(t, 1, delivered)
	time.Sleep(30 * time.Millisecond)
	assert.Equal(t, delivered, cn.count(), "nothing runs after Run returned")
}

func TestLoopLogsStoreErrors(t *testing.T) {
	store := memory.New()
	require.NoError(t, store.Close())
	var logs syncWriter
	loop := &notify.Loop{Dispatcher: &topup.Dispatcher{Store: store, Notifier: notify.Log{}}, Interval: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- loop.Run(ctx) }()
	require.Eventually(t, func() bool { return strings.Count(logs.String(), "dispatch failed") >= 2 }, 5*time.Second, 5*time.Millisecond,
		"each failing pass is logged and the loop carries on")
	cancel()
	require.NoError(t, <-done)
}

// syncWriter is a goroutine-safe buffer for log output.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		s.w = &bytes.Buffer{}
	}
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return ""
	}
	return s.w.String()
}
